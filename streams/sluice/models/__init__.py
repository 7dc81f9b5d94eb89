"""Records that flow through sluice: pydantic v2, frozen.

The event contract for producers: :data:`WorkflowEvent` (default limits),
:func:`event_model` (custom :class:`Limits`) and the enums of its fields.
"""

from sluice.models.event import (
    ActorType,
    DataClassification,
    Limits,
    StepKind,
    WorkflowEvent,
    event_model,
)
from sluice.models.finding import Finding, FindingKind, Severity

__all__ = [
    "ActorType",
    "DataClassification",
    "Finding",
    "FindingKind",
    "Limits",
    "Severity",
    "StepKind",
    "WorkflowEvent",
    "event_model",
]
