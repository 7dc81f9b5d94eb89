"""Markup judged on its parsed attributes, the way a browser reads them.

A browser decodes character references in attribute values (``&#106;avascript:``,
``ja&Tab;vascript:``), ignores control characters and spaces inside a URL scheme
(``java\\tscript:``), reads namespaced names (``<x:script>``, ``xlink:href``,
``x:ontimer=``) and CSS escapes and comments in ``style`` (``expr/**/ession(``,
``\\65 xpression(``). Pattern rules on the raw text miss these spellings; here each tag of
a field is split into attributes and each value decoded first, then judged:

- ``event_handler``: an ``on…`` attribute (``onerror``, ``x:ontimer``) on any tag;
- ``javascript_url``: a value whose decoded, de-spaced text starts with ``javascript:``,
  ``vbscript:`` or ``livescript:``, or holds ``url(javascript:``;
- ``data_url``: a ``data:`` value other than a raster image (``data:,alert(1)``,
  ``data:text/html;base64,…``, ``data:image/svg+xml``);
- ``dangerous_tag``: ``srcdoc`` (a whole document in an attribute), a namespaced
  ``script`` element;
- ``css_expression``: ``expression(``, ``behavior:``, ``-moz-binding`` or ``javascript:`` in
  a decoded ``style`` value.

Two more shapes that no raw pattern sees:

- ``encoded_markup``: markup sent encoded (``%3Cscript%3E``, ``&lt;svg onload=…&gt;``,
  ``\u003cscript\u003e``, twice URL-encoded) is decoded (at most :data:`SCAN_CHARS`
  characters) and judged for a script tag, an event handler or a script URL;
- ``js_breakout``: a value that closes a JavaScript string and calls a dialog sink
  (``'-alert(1)-'``, ``";alert(1);//``, ``'}alert(1);{'``), or the proof-of-concept call
  of a payload anywhere (``alert(1)``, ``prompt(document.domain)``, ``confirm('XSS')``).

Cost bound: at most :data:`MAX_TAGS` tags in the first :data:`SCAN_CHARS` characters of a
field, each read up to :data:`TAG_CHARS` characters; the verdict for a field is computed
once (cached) and shared by the rules of the five detectors.
"""

from __future__ import annotations

import functools
import html
import re
import urllib.parse
from typing import Any

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Check, Rule

__all__ = ["MAX_TAGS", "SCAN_CHARS", "TAG_CHARS", "attribute_rules", "judge_markup"]

MAX_TAGS = 64
SCAN_CHARS = 16_384
TAG_CHARS = 1_024

_TAG = re.compile(r"<\s*/?\s*([A-Za-z][\w.-]{0,63}(?:\s*:\s*[\w.-]{1,64})?)([^<>]{0,1024})")
_ATTR = re.compile(
    r"""([^\s"'<>/=`]{1,64})\s*=\s*("[^"]*"?|'[^']*'?|`[^`]*`?|[^\s>]*)""",
)
_SPACE = re.compile(r"[\x00-\x20\x7f]+")
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_SCHEME = ("javascript:", "vbscript:", "livescript:")
_RASTER = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp|x-icon|avif)[;,]")
_CSS_BAD = ("expression(", "behavior:", "-moz-binding", "javascript:", "vbscript:")


def _css_unescape(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        code = int(m.group(1), 16)
        return chr(code) if 0 < code < 0x110000 else ""
    return m.group(2)


def _value(raw: str) -> str:
    if raw[:1] in "\"'`":
        raw = raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
    return _SPACE.sub("", html.unescape(raw)).lower()


def _judge_attr(name: str, raw: str) -> str | None:
    local = name.lower().rsplit(":", 1)[-1]
    if len(local) > 4 and local.startswith("on") and local[2:].isalpha():
        return "event_handler"
    value = _value(raw)
    if local == "style":
        css = _CSS_COMMENT.sub("", _CSS_ESCAPE.sub(_css_unescape, value))
        if any(b in css for b in _CSS_BAD):
            return "css_expression"
    if value.startswith(_SCHEME) or "url(javascript:" in value:
        return "javascript_url"
    if value.startswith("data:") and _RASTER.match(value) is None:
        return "data_url"
    if local == "srcdoc" and "<" in value:
        return "dangerous_tag"
    return None


@functools.lru_cache(maxsize=256)
def judge_markup(view: str) -> frozenset[str]:
    """The detectors the parsed tags of ``view`` call for (empty when none)."""
    found: set[str] = set()
    for n, tag in enumerate(_TAG.finditer(view, 0, SCAN_CHARS)):
        if n >= MAX_TAGS:
            break
        name = tag.group(1).replace(" ", "").lower()
        if ":" in name and name.rsplit(":", 1)[-1] == "script":
            found.add("dangerous_tag")
        for attr in _ATTR.finditer(tag.group(2)):
            verdict = _judge_attr(attr.group(1), attr.group(2))
            if verdict is not None:
                found.add(verdict)
    return frozenset(found)


def _check(detector: str) -> Check:
    def check(view: str, m: Any, value: str) -> float | None:
        return 0.85 if detector in judge_markup(view) else None

    return check


#: A tag with an attribute: where the parse can find something the patterns did not.
_HINT = r"(?i)<\s*[a-z][\w.:-]*[^<>]*?="
_ENTITY_SCHEME = (
    r"(?i)(?:&(?:tab|newline|colon|nbsp|#0*(?:9|10|13|58|106|74)|#x0*(?:9|a|d|3a|6a|4a));?"
    r"|[a-z][\t\n\r]+[a-z])"
)


def _entity_scheme_check(view: str, m: Any, value: str) -> float | None:
    """``ja&Tab;vascript:`` outside a tag: decoded and de-spaced, a script URL scheme."""
    text = _SPACE.sub("", html.unescape(view[:SCAN_CHARS])).lower()
    return 0.8 if any(s in text for s in _SCHEME) else None


#: Character references decoded per check counted as one check: the checks below decode
#: the first SCAN_CHARS of the field (a Python call per reference), so 128 arguments
#: dense with references would cost ~5x plain text; counted, at most 512 x 16 references
#: are decoded per event and past that the rest is flagged as ``check_cap`` (fail closed).
REFS_PER_CHECK = 16


def decode_cost(view: str) -> int:
    """Checks one decoding of ``view`` counts as (see :data:`REFS_PER_CHECK`)."""
    return 1 + view.count("&", 0, SCAN_CHARS) // REFS_PER_CHECK


_ENCODED_HINT = r"(?i)%(?:25)*3c|&lt;?|&#0*60;?|&#x0*3c;?|\\u003c|\\x3c"
_UNICODE_ESC = re.compile(r"\\(?:u00|x)([0-9a-fA-F]{2})")
_SCRIPT_TAG = re.compile(r"<\s*/?\s*(?:[a-z0-9]+\s*:\s*)?script\b", re.I)


def decode_markup(text: str) -> str:
    """``text`` with %XX (twice), character references and \\uXXXX/\\xXX escapes decoded."""
    cur = text[:SCAN_CHARS]
    for _ in range(2):
        if "%" not in cur:
            break
        cur = urllib.parse.unquote(cur, errors="replace")
    if "\\" in cur:
        cur = _UNICODE_ESC.sub(lambda m: chr(int(m.group(1), 16)), cur)
    if "&" in cur:
        cur = html.unescape(cur)
    return cur


def _encoded_check(view: str, m: Any, value: str) -> float | None:
    decoded = decode_markup(view)
    if decoded == view[:SCAN_CHARS]:
        return None
    if _SCRIPT_TAG.search(decoded) or judge_markup(decoded) & _STRONG:
        return 0.8
    return None


_STRONG = frozenset({"event_handler", "javascript_url", "dangerous_tag", "css_expression"})
#: A closed JS string, an operator or statement end, and a dialog sink called.
_JS_BREAKOUT = (
    r"(?i)['\"`]\s*(?:[)}\]]*\s*(?:[-+*/%^|&;,]|\?\?)|[)}\]]+)\s*[)}\]{;]*\s*"
    r"(?:alert|prompt|confirm)\s*(?:\(|`)"
    # the proof-of-concept calls of XSS payloads, in any context
    r"|(?i)\b(?:alert|prompt|confirm)\s*(?:\(|`)\s*(?:[0-9]+|document\.(?:domain|cookie)|"
    r"window\.origin|['\"/]xss['\"/]|string\.fromcharcode\s*\()"
)


def attribute_rules() -> list[Rule]:
    """The attribute-level rules (one per detector) and the entity-obfuscated scheme rule."""
    rules = [
        Rule(
            det,
            FindingKind.MARKUP,
            f"(?s)^.*?({_HINT})",
            Severity.HIGH if det != "data_url" else Severity.MEDIUM,
            0.85,
            group=1,
            check=_check(det),
            priority=11,
            rule_id=f"{det}_parsed",
        )
        for det in (
            "event_handler",
            "javascript_url",
            "data_url",
            "dangerous_tag",
            "css_expression",
        )
    ]
    rules.append(
        Rule(
            "javascript_url",
            FindingKind.MARKUP,
            f"(?s)^.*?({_ENTITY_SCHEME})",
            Severity.HIGH,
            0.8,
            group=1,
            check=_entity_scheme_check,
            check_cost=decode_cost,
            priority=11,
            rule_id="javascript_url_entities",
        )
    )
    rules.append(
        Rule(
            "encoded_markup",
            FindingKind.MARKUP,
            f"(?s)^.*?({_ENCODED_HINT})",
            Severity.HIGH,
            0.8,
            group=1,
            check=_encoded_check,
            check_cost=decode_cost,
            # in html fields an escaped tag is text, and shows as text after cleaning
            treatments=frozenset({"text", "sql"}),
            priority=12,
        )
    )
    rules.append(
        Rule(
            "js_breakout",
            FindingKind.MARKUP,
            f"(?s)^.*?({_JS_BREAKOUT})",
            Severity.HIGH,
            0.8,
            group=1,
            priority=12,
        )
    )
    return rules
