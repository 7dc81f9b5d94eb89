"""A held event as readable text, with each finding marked where it sits.

Pure: no I/O. ``sluice review show`` prints :func:`render_detail`; a console can use
:func:`field_texts` and :func:`mark_spans` to highlight the same spans its own way.

Finding offsets index a field *as received*, while a held event is the *sanitized*
event, so a span is located in the text shown by, in order: the redaction placeholder
``[REDACTED:<detector>:<fingerprint>]`` carrying that finding's fingerprint, else the
received offsets when the field text before them is unchanged as far as we can tell
(no placeholder earlier in the field) and they fit, else nowhere (the finding is still
listed, with its received offsets). Event text is attacker-controlled: control, bidi
and zero-width characters are shown as visible ``\\u....`` escapes, never passed
through to the terminal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MARK_CLOSE",
    "MARK_OPEN",
    "Span",
    "field_texts",
    "locate",
    "mark_spans",
    "render_detail",
    "visible",
]

#: Brackets around a marked span (not ASCII, so unlikely in the event itself).
MARK_OPEN = "⟦"
MARK_CLOSE = "⟧"

_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z0-9_]+:[0-9a-f]{16}\]")


@dataclass(frozen=True, slots=True)
class Span:
    """Where finding number ``n`` (1-based, as listed) sits in a shown field's text."""

    n: int
    start: int
    end: int


def visible(text: str) -> str:
    """``text`` with control, format (bidi, zero-width) and other invisible characters
    written as ``\\uXXXX``; newlines and tabs are kept (multi-line content stays
    readable)."""
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def field_texts(
    event: Mapping[str, Any] | Sequence[Any], prefix: str = ""
) -> list[tuple[str, str]]:
    """(dotted field path, text) of every non-empty string in ``event``, in order.

    Paths match :attr:`sluice.models.finding.Finding.field` (``content``,
    ``arguments.query``, ``model.name``); list items are ``field.0``, ``field.1``.
    """
    out: list[tuple[str, str]] = []
    items: Iterable[tuple[str, Any]]
    if isinstance(event, Mapping):
        items = ((str(k), v) for k, v in event.items())
    else:
        items = ((str(i), v) for i, v in enumerate(event))
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, str):
            if value:
                out.append((path, value))
        elif isinstance(value, Mapping | list | tuple):
            out.extend(field_texts(value, path + "."))
    return out


def locate(text: str, finding: Mapping[str, Any]) -> tuple[int, int] | None:
    """Where ``finding`` sits in the shown (sanitized) ``text``, or None (see module doc)."""
    fp = finding.get("fingerprint")
    detector = finding.get("detector")
    if fp and detector:
        at = text.find(f"[REDACTED:{detector}:{fp}]")
        if at >= 0:
            return at, at + len(f"[REDACTED:{detector}:{fp}]")
    start, end = int(finding.get("start", 0)), int(finding.get("end", 0))
    first = _PLACEHOLDER.search(text)
    if 0 <= start < end <= len(text) and (first is None or first.start() >= end):
        return start, end
    return None


def mark_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span wrapped in ``⟦…⟧ⁿ`` (n: the finding's number).

    Overlapping spans are nested as far as they nest; a span that crosses another's end
    is cut at it (the listing below the text still gives its offsets).
    """
    opens: dict[int, list[Span]] = {}
    fitting = (s for s in spans if 0 <= s.start < s.end <= len(text))
    for s in sorted(fitting, key=lambda s: (s.start, -s.end, s.n)):
        opens.setdefault(s.start, []).append(s)
    stack: list[Span] = []
    out: list[str] = []
    for i in range(len(text) + 1):
        while stack and stack[-1].end <= i:
            out.append(f"{MARK_CLOSE}{_sup(stack.pop().n)}")
        if i == len(text):
            break
        for s in opens.get(i, []):
            if stack and s.end > stack[-1].end:
                s = Span(s.n, s.start, stack[-1].end)  # crosses: cut at the outer end
            out.append(MARK_OPEN)
            stack.append(s)
        out.append(text[i])
    return visible("".join(out))


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(n: int) -> str:
    return str(n).translate(_SUPERSCRIPT)


def _finding_line(n: int, f: Mapping[str, Any], where: str) -> str:
    return (
        f"  {n}. {f.get('kind', '?')}/{f.get('detector', '?')}  severity={f.get('severity', '?')}"
        f"  action={f.get('action', '?')}  in {f.get('field', '?')}"
        f" [{f.get('start', '?')}:{f.get('end', '?')}] {where}"
    )


def render_detail(event: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> str:
    """The sanitized ``event`` as text blocks (one per string field, findings marked
    ``⟦…⟧ⁿ``), then its other fields, then the numbered findings.

    Each finding line gives kind/detector, severity, action and field with its offsets
    as received, and says whether it is marked in the text above.
    """
    texts = field_texts(event)
    by_field: dict[str, list[Span]] = {}
    where: dict[int, str] = {}
    shown = dict(texts)
    for n, f in enumerate(findings, 1):
        text = shown.get(str(f.get("field", "")))
        at = locate(text, f) if text is not None else None
        if at is None:
            where[n] = "(not marked: offsets of the field as received)"
        else:
            by_field.setdefault(str(f["field"]), []).append(Span(n, *at))
            where[n] = f"(marked {n})"
    lines: list[str] = []
    for path, text in texts:
        lines.append(f"── {visible(path)} " + "─" * max(2, 60 - len(path)))
        lines.append(mark_spans(text, by_field.get(path, ())))
    scalars = _scalars(event)
    if scalars:
        lines.append("── other fields " + "─" * 46)
        lines.extend(f"  {visible(k)}: {v}" for k, v in scalars)
    lines.append(f"── findings ({len(findings)}) " + "─" * 44)
    if not findings:
        lines.append("  none")
    lines.extend(_finding_line(n, f, where[n]) for n, f in enumerate(findings, 1))
    return "\n".join(lines)


def _scalars(event: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(path, value) of the non-string leaves (numbers, booleans, nulls are left out)."""
    out: list[tuple[str, str]] = []
    for key, value in event.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_scalars(value, path + "."))
        elif isinstance(value, bool | int | float):
            out.append((path, str(value)))
    return out
