"""The edits the sanitizer makes to a field: placeholders, removals, HTML cleaning.

Accepted hits become edits on the *original* text (spans mapped back from the view):
secrets always, and PII when the event's classification asks for it, are replaced by
``[REDACTED:<detector>:<fingerprint>]``; removed Unicode runs are cut; ``html`` fields
are then cleaned with ``nh3``. A field that ends up unchanged is returned as the same
object, which is how the engine knows nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable

from sluice.models.finding import Finding, FindingKind
from sluice.sanitize.base import fingerprint, placeholder
from sluice.sanitize.markup import clean_html
from sluice.sanitize.matching import MAX_FINDINGS_PER_FIELD
from sluice.sanitize.scoring import cand_finding
from sluice.sanitize.spans import Cand

__all__ = [
    "HTML_SPECIAL",
    "Edit",
    "apply_edits",
    "clean_or_same",
    "edited_text",
    "redact_and_report",
    "to_original",
]

#: Characters whose presence makes an ``html`` field go through the cleaner.
HTML_SPECIAL = ("<", ">", "&")
#: (start, end, replacement) in original-text coordinates.
Edit = tuple[int, int, str]


def to_original(text: str, index_map: list[int] | None) -> Callable[[int, int], tuple[int, int]]:
    """Maps a view span to the span of ``text`` it came from (``index_map`` per view char)."""
    imap = index_map

    def orig(start: int, end: int) -> tuple[int, int]:
        if imap is None:
            return start, end
        if start >= len(imap):
            return len(text), len(text)
        return imap[start], imap[end - 1] + 1

    return orig


def redact_and_report(
    accepted: list[Cand],
    key: bytes,
    field: str,
    treatment: str,
    redact_pii: bool,
    orig: Callable[[int, int], tuple[int, int]],
    edits: list[Edit],
    findings: list[Finding],
) -> bool:
    """Act on every accepted hit: placeholders into ``edits``, findings into ``findings``.

    Only MAX_FINDINGS_PER_FIELD are reported, secrets and PII first (every one is still
    redacted). Returns whether markup was found in an ``html`` field (it must be cleaned).
    """
    html_changed = False
    # Secrets and PII first so that the reported ones are the most important.
    accepted.sort(
        key=lambda c: (
            c.rule.kind is not FindingKind.SECRET,
            c.rule.kind is not FindingKind.PII,
            c.start,
        )
    )
    reported = 0
    for c in accepted:
        s, e = orig(c.start, c.end)
        kind = c.rule.kind
        redacting = kind is FindingKind.SECRET or (kind is FindingKind.PII and redact_pii)
        if reported >= MAX_FINDINGS_PER_FIELD and not redacting:
            continue
        fp = fingerprint(key, c.value)
        action = "flagged"
        if redacting:
            action = "redacted"
            edits.append((s, e, placeholder(c.rule.detector, fp)))
        elif kind is FindingKind.MARKUP and treatment == "html":
            action = "cleaned"
            html_changed = True
        if reported < MAX_FINDINGS_PER_FIELD:
            reported += 1
            findings.append(cand_finding(c, field, s, e, fp, action))
    return html_changed


def apply_edits(text: str, edits: list[Edit]) -> str:
    """``text`` with ``edits`` made; an edit starting inside an earlier one is dropped."""
    if not edits:
        return text
    edits.sort(key=lambda e: (e[0], -(e[1] - e[0])))
    parts: list[str] = []
    pos = 0
    for s, e, repl in edits:
        if s < pos:  # inside an earlier edit (e.g. a control char within a secret)
            if e > pos:
                pos = e
            continue
        parts.append(text[pos:s])
        parts.append(repl)
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def clean_or_same(text: str) -> str:
    """``text`` cleaned as HTML, or ``text`` itself when cleaning changes nothing."""
    cleaned = clean_html(text)
    return text if cleaned == text else cleaned


def edited_text(text: str, edits: list[Edit], treatment: str, html_changed: bool) -> str:
    """The sanitized field: edits made, HTML cleaned; ``text`` itself when unchanged."""
    out = apply_edits(text, edits)
    if treatment == "html" and (html_changed or any(c in out for c in HTML_SPECIAL)):
        out = clean_or_same(out)
    if out == text:
        out = text
    return out
