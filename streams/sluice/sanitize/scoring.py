"""Severity, confidence and reporting of the sanitizer's findings.

Turns accepted candidates and the Unicode stage's removals into :class:`Finding` objects
(severity per detector, rounded confidence), combines prompt-injection phrase scores,
and caps what one field reports (secrets first: every secret is still redacted).
"""

from __future__ import annotations

from collections.abc import Callable

from sluice.models.finding import Finding, FindingKind, Severity
from sluice.sanitize.base import fingerprint
from sluice.sanitize.matching import MAX_FINDINGS_PER_FIELD, Budget
from sluice.sanitize.prompt_injection import CLASSIFIER_RULE, combine_scores, decoded_injection
from sluice.sanitize.spans import Cand
from sluice.sanitize.unicode import CONFUSABLE_FLOOD, Prepared, counted_confusable_report

__all__ = [
    "cand_finding",
    "control_finding",
    "hidden_payload_finding",
    "in_report",
    "score_prompt_injection",
    "unicode_findings",
]

_UNICODE_SEVERITY = {
    "zero_width": Severity.MEDIUM,
    "bidi_override": Severity.HIGH,
    "tag_characters": Severity.HIGH,
    "control_character": Severity.MEDIUM,
}


def score_prompt_injection(accepted: list[Cand]) -> None:
    """Raise distinct prompt-injection phrases in one field to their combined score."""
    pi = [c for c in accepted if c.rule.kind is FindingKind.PROMPT_INJECTION]
    if len(pi) < 2:
        return
    best: dict[str, float] = {}
    # The classifier's finding carries its own probability; the noisy-or is for phrases.
    pi = [c for c in pi if c.rule is not CLASSIFIER_RULE]
    for c in pi:
        best[c.rule.detector] = max(best.get(c.rule.detector, 0.0), c.confidence)
    if len(best) < 2:
        return
    score = combine_scores(list(best.values()))
    for c in pi:
        c.confidence = max(c.confidence, score)


def cand_finding(c: Cand, field: str, start: int, end: int, fp: str, action: str) -> Finding:
    """The finding a detector's accepted candidate reports (original-text span)."""
    return Finding(
        kind=c.rule.kind,
        detector=c.rule.detector,
        field=field,
        start=start,
        end=end,
        severity=c.rule.severity,
        confidence=round(min(c.confidence, 1.0), 4),
        fingerprint=fp,
        action=action,
    )


def control_finding(det: str, field: str, start: int, end: int) -> Finding:
    """A removed run of invisible, bidi, control or tag characters."""
    return Finding(
        kind=FindingKind.UNICODE,
        detector=det,
        field=field,
        start=start,
        end=end,
        severity=_UNICODE_SEVERITY[det],
        confidence=1.0,
        action="removed",
    )


def hidden_payload_finding(key: bytes, field: str, start: int, end: int, hidden: str) -> Finding:
    """An instruction hidden in tag characters (decoded to ASCII by the unicode stage)."""
    return Finding(
        kind=FindingKind.PROMPT_INJECTION,
        detector="encoded_payload",
        field=field,
        start=start,
        end=end,
        severity=Severity.HIGH,
        confidence=0.95,
        fingerprint=fingerprint(key, hidden),
        action="removed",
    )


def unicode_findings(
    key: bytes,
    prep: Prepared,
    field: str,
    orig: Callable[[int, int], tuple[int, int]],
    event_budget: Budget | None = None,
) -> list[Finding]:
    """What the Unicode stage found in a field: removed characters, hidden instructions,
    mixed-script confusables (``orig`` maps view spans to the original text;
    ``event_budget`` holds the event's allowance of look-alike tokens reported one by one)."""
    findings: list[Finding] = []
    # Every hit is acted upon; only the first MAX_FINDINGS_PER_FIELD are reported
    # (an attacker must not be able to blow up the findings list).
    budget = MAX_FINDINGS_PER_FIELD
    for det, s, e in prep.hits:
        if budget <= 0:
            break
        budget -= 1
        findings.append(control_finding(det, field, s, e))
    for s, e, hidden in prep.hidden[:MAX_FINDINGS_PER_FIELD]:
        if decoded_injection(hidden):
            findings.append(hidden_payload_finding(key, field, s, e, hidden))
    if not prep.view.isascii():
        eb = event_budget
        left = eb.confusable_tokens if eb is not None else CONFUSABLE_FLOOD
        spans, matched = counted_confusable_report(prep.view, left)
        if eb is not None:
            eb.confusable_tokens -= matched
        for vs, ve in spans:
            s, e = orig(vs, ve)
            findings.append(
                Finding(
                    kind=FindingKind.UNICODE,
                    detector="confusable_mixed_script",
                    field=field,
                    start=s,
                    end=e,
                    severity=Severity.MEDIUM,
                    confidence=0.8,
                )
            )
    return findings


def in_report(findings: list[Finding]) -> list[Finding]:
    """``findings`` in span order, at most MAX_FINDINGS_PER_FIELD (redactions first)."""
    findings.sort(key=lambda f: (f.start, f.end, f.detector))
    if len(findings) <= MAX_FINDINGS_PER_FIELD:
        return findings
    redacted = [f for f in findings if f.action == "redacted"]
    rest = [f for f in findings if f.action != "redacted"]
    keep = redacted[:MAX_FINDINGS_PER_FIELD]
    keep += rest[: max(0, MAX_FINDINGS_PER_FIELD - len(keep))]
    keep.sort(key=lambda f: (f.start, f.end, f.detector))
    return keep
