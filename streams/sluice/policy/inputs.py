"""What rules see of findings, and the risk score the review queue ranks by.

:func:`finding_to_cel` is the map a finding becomes in ``findings`` (the fields listed
in ``docs/policy.md``); :func:`risk_score` is ``Assessment.risk_score``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["finding_to_cel", "risk_score"]

_SEVERITY_WEIGHT = {"low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0}
_OUTCOME_FLOOR = {"allow": 0.0, "hold": 0.5, "deny": 1.0}


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def finding_to_cel(finding: Any) -> dict[str, Any]:
    """A :class:`sluice.models.Finding` (or its Avro dict) as the map rules see in ``findings``."""
    if isinstance(finding, Mapping):
        get = finding.get
        kind, detector, fld = get("kind"), get("detector"), get("field")
        severity, confidence, action = get("severity"), get("confidence"), get("action")
    else:
        kind, detector, fld = finding.kind, finding.detector, finding.field
        severity, confidence = finding.severity, finding.confidence
        action = getattr(finding, "action", None)
    return {
        "kind": str(_enum_value(kind)),
        "detector": str(detector),
        "field": str(fld),
        "severity": str(_enum_value(severity) or "medium"),
        "confidence": float(1.0 if confidence is None else confidence),
        "action": str(action or "flagged"),
    }


def risk_score(outcome: str, findings: Sequence[Mapping[str, Any]]) -> float:
    """0..1: ``deny`` → 1; else max(outcome floor, noisy-OR of the findings).

    Each finding weighs ``severity weight * confidence`` (low .25, medium .5, high .75,
    critical 1); findings combine as ``1 - prod(1 - w)``. The floor is 0 for allow and 0.5
    for hold, so a hold always ranks above a clean allow in the review queue.
    """
    if outcome == "deny":
        return 1.0
    keep = 1.0
    for f in findings:
        keep *= 1.0 - _SEVERITY_WEIGHT.get(f["severity"], 0.5) * min(max(f["confidence"], 0.0), 1.0)
    return round(max(_OUTCOME_FLOOR.get(outcome, 0.5), 1.0 - keep), 4)
