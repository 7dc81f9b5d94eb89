"""Markup / XSS detectors, and the HTML cleaner for fields declared ``html``.

Detection runs on every scanned field: script tags, event-handler attributes,
``javascript:``/``vbscript:`` URLs in link contexts, dangerous ``data:`` URLs (HTML, script,
SVG), and, in fields that should hold plain text, HTML tags. Text fields are only
flagged (rewriting every ``<`` in a code diff would destroy it); ``html`` fields are
cleaned with ``nh3`` (ammonia), which keeps a safe tag/attribute allow-list.
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import replace

import nh3

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule
from sluice.sanitize.markup_attrs import attribute_rules

__all__ = ["MAX_HTML_DEPTH", "clean_html", "html_depth_exceeds", "markup_rules"]

_MARKUP = FindingKind.MARKUP
_TAGS = (
    "a|img|iframe|frame|frameset|object|embed|svg|math|style|link|meta|base|form|input|button|"
    "textarea|select|body|html|head|div|span|p|video|audio|source|details|marquee|table|td|tr|"
    "xml|applet|template|noscript|title"
)


def markup_rules() -> list[Rule]:
    """The markup rules; ``markup_in_text`` only runs on ``text`` and ``sql`` fields.

    Each reports its first match in a field: one finding per detector is what a policy
    and a reviewer need (``html`` fields are cleaned whole by nh3 anyway), and it keeps
    input made of a hundred thousand ``<script>`` tags as cheap as prose.
    """
    return [
        replace(r, pattern=f"(?s)^.*?({r.pattern})", group=1) if r.group == 0 else r
        for r in _markup_rules()
    ] + attribute_rules()


def _markup_rules() -> list[Rule]:
    return [
        Rule("script_tag", _MARKUP, r"(?i)<\s*/?\s*script\b", Severity.HIGH, 0.95, priority=10),
        Rule(
            "event_handler",
            _MARKUP,
            r"(?i)<[a-z][a-z0-9\-]*\b[^>]*?[\s/\"']on[a-z]{3,30}\s*=",
            Severity.HIGH,
            0.9,
            priority=10,
        ),
        Rule(
            "javascript_url",
            _MARKUP,
            r"(?i)(?:(?:href|src|action|formaction|xlink:href|data|location|url)\s*[=(]\s*[\"']?\s*"
            r"|\]\(\s*)(?:javascript|vbscript|livescript)\s*:",
            Severity.HIGH,
            0.85,
            priority=10,
        ),
        Rule(
            "javascript_url",
            _MARKUP,
            r"(?i)\b(?:javascript|vbscript)\s*:\s*(?:[a-z_$][a-z0-9_$.]*\s*\(|/\*|%[0-9a-f]{2}|`)",
            Severity.HIGH,
            0.85,
            priority=10,
            rule_id="javascript_call_url",
        ),
        Rule(
            "data_url",
            _MARKUP,
            r"(?i)\bdata:\s*(?:text/html|text/javascript|application/(?:x-)?javascript|"
            r"image/svg\+xml|application/xhtml\+xml|text/xml)\b",
            Severity.MEDIUM,
            0.85,
            priority=10,
        ),
        Rule(
            # attribute break-out without a tag: x" onerror=alert(1)>, "onmouseover=alert(1);a="
            "event_handler",
            _MARKUP,
            r"(?i)(?:^|[\s\"'`/;])on[a-z]{3,30}\s*=\s*[\"'`]?\s*(?:alert|confirm|prompt|eval|"
            r"settimeout|setinterval|fetch|import|atob|document\.|window\.|location|"
            r"javascript:|top\[|self\[|parent\[|this\.|string\.fromcharcode|\$\{|[a-z_$][\w$.]*"
            r"\s*\(\s*[\w'\"`/]*\s*\))",
            Severity.HIGH,
            0.85,
            priority=10,
            rule_id="event_handler_breakout",
        ),
        Rule(
            # IE/legacy CSS script: style="x:expression(alert(1))", behavior:url(x.htc), binding
            "css_expression",
            _MARKUP,
            r"(?i)\bstyle\s*=\s*[^>]{0,200}?(?:expr(?:/\*[^*]{0,40}\*/)?ession\s*(?:\(|\\28)|"
            r"behavior\s*:|-moz-binding\s*:|javascript\s*:)|\{\s*[a-z-]*\s*:\s*expression\s*\(",
            Severity.HIGH,
            0.85,
            priority=10,
        ),
        Rule(
            "meta_refresh",
            _MARKUP,
            r"(?i)<\s*meta\b[^>]{0,200}?http-equiv\s*=\s*[\"']?\s*(?:refresh|link|set-cookie)\b",
            Severity.HIGH,
            0.85,
            priority=10,
        ),
        Rule(
            # SVG animation that writes a handler or a link: <animate attributeName="onunload" ...>
            "svg_animate",
            _MARKUP,
            r"(?i)<\s*(?:animate|set|animatetransform)\b[^>]{0,200}?attributename\s*=\s*[\"']?\s*"
            r"(?:on[a-z]+|href|xlink:href)\b",
            Severity.HIGH,
            0.85,
            priority=10,
        ),
        Rule(
            # active element with a source, even unclosed: <iframe src=http://x/ <
            "dangerous_tag",
            _MARKUP,
            r"(?i)<\s*(?:iframe|frame|object|embed|applet|base|form|meta|link|vmlframe)\b[^<>]{0,200}?"
            r"\b(?:src|href|data|code|codebase|action|content)\s*=",
            Severity.MEDIUM,
            0.8,
            treatments=frozenset({"text", "sql"}),
            priority=15,
        ),
        Rule(
            "markup_in_text",
            _MARKUP,
            rf"(?i)<\s*/?\s*(?:{_TAGS})\b[^<>]*>",
            Severity.LOW,
            0.7,
            treatments=frozenset({"text", "sql"}),
            priority=20,
        ),
    ]


#: Deepest element nesting handed to nh3. html5ever walks the stack of open elements for
#: each start tag, so nesting depth d costs O(d) per tag: 16,000 nested ``<div>`` (80 KB)
#: take 2 s, 256 levels take well under a millisecond per kilobyte.
MAX_HTML_DEPTH = 256
#: Elements that never nest (void), close their own kind (``p``, ``li``, ...), or are
#: bounded by html5ever's formatting rules (``a``, ``b``, ...): not counted as depth.
_FLAT_TAGS = (
    "area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr|keygen|p|li|dt|dd|"
    "tr|td|th|option|optgroup|thead|tbody|tfoot|colgroup|caption|rb|rt|rp|a|b|i|u|s|em|strong|"
    "small|big|code|font|nobr|tt|strike"
)
_FLAT = frozenset(_FLAT_TAGS.split("|"))
_TAG_EDGE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")


def html_depth_exceeds(text: str, limit: int = MAX_HTML_DEPTH) -> bool:
    """Whether the nesting of container elements in ``text`` may exceed ``limit``.

    Linear and C-speed: the tag edges are collected by one regex ``findall`` and summed
    with ``itertools.accumulate``; fewer than ``limit`` ``<`` cannot nest deeper.
    """
    if text.count("<") <= limit:
        return False
    edges = _TAG_EDGE.findall(text)
    if len(edges) <= limit:
        return False
    steps = (-1 if close else 1 for close, name in edges if name.lower() not in _FLAT)
    return max(itertools.accumulate(steps), default=0) > limit


def clean_html(text: str) -> str:
    """``text`` cleaned by nh3 with its default allow-list (scripts, handlers, js URLs gone).

    Lone surrogates (not encodable as UTF-8, which nh3 requires) become U+FFFD first.
    Markup nested deeper than :data:`MAX_HTML_DEPTH` (an attack on the parser's cost, no
    real document needs it) is not parsed at all: it is escaped, so it shows as text.
    """
    if not text.isascii():
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if html_depth_exceeds(text):
        return html.escape(text, quote=False)
    return nh3.clean(text)
