"""Records that flow through sluice: pydantic v2, frozen."""

from sluice.models.event import ActorType, DataClassification, StepKind, event_model
from sluice.models.finding import Finding, FindingKind, Severity

__all__ = [
    "ActorType",
    "DataClassification",
    "Finding",
    "FindingKind",
    "Severity",
    "StepKind",
    "event_model",
]
