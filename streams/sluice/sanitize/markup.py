"""Markup / XSS detectors, and the HTML cleaner for fields declared ``html``.

Detection runs on every scanned field: script tags, event-handler attributes,
``javascript:``/``vbscript:`` URLs in link contexts, dangerous ``data:`` URLs (HTML, script,
SVG), and, in fields that should hold plain text, HTML tags. Text fields are only
flagged (rewriting every ``<`` in a code diff would destroy it); ``html`` fields are
cleaned with ``nh3`` (ammonia), which keeps a safe tag/attribute allow-list.
"""

from __future__ import annotations

import nh3

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule

__all__ = ["clean_html", "markup_rules"]

_MARKUP = FindingKind.MARKUP
_TAGS = (
    "a|img|iframe|frame|frameset|object|embed|svg|math|style|link|meta|base|form|input|button|"
    "textarea|select|body|html|head|div|span|p|video|audio|source|details|marquee|table|td|tr|"
    "xml|applet|template|noscript|title"
)


def markup_rules() -> list[Rule]:
    """The markup rules; ``markup_in_text`` only runs on ``text`` and ``sql`` fields."""
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


def clean_html(text: str) -> str:
    """``text`` cleaned by nh3 with its default allow-list (scripts, handlers, js URLs gone).

    Lone surrogates (not encodable as UTF-8, which nh3 requires) become U+FFFD first.
    """
    if not text.isascii():
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return nh3.clean(text)
