"""The WorkflowEvent contract as a pydantic v2 model, with size limits from settings.

Validation runs on the dict fastavro decodes (or the JSON an upstream service emits);
the model checks what Avro cannot: UUID shape, string and map sizes, numeric bounds,
and that nothing unexpected is present.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "ActorType",
    "DataClassification",
    "Limits",
    "StepKind",
    "WorkflowEvent",
    "event_model",
]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class StepKind(StrEnum):
    """What a workflow step does."""

    PROMPT = "PROMPT"
    MODEL_OUTPUT = "MODEL_OUTPUT"
    TOOL_CALL = "TOOL_CALL"
    DATA_ACCESS = "DATA_ACCESS"
    EXTERNAL_API = "EXTERNAL_API"
    CODE_PUBLISH = "CODE_PUBLISH"
    MESSAGE_SEND = "MESSAGE_SEND"
    MODEL_DEPLOY = "MODEL_DEPLOY"
    RECORD_UPDATE = "RECORD_UPDATE"
    OTHER = "OTHER"


class ActorType(StrEnum):
    """Who acts."""

    AGENT = "AGENT"
    SERVICE = "SERVICE"
    HUMAN = "HUMAN"


class DataClassification(StrEnum):
    """How sensitive the data the step touches is."""

    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"
    CONFIDENTIAL = "CONFIDENTIAL"
    RESTRICTED = "RESTRICTED"


class Limits(BaseModel):
    """Size limits that shape the model (from :class:`sluice.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    max_text_chars: int = 4096
    max_content_chars: int = 256 * 1024
    max_map_entries: int = 128
    max_map_value_chars: int = 32 * 1024


@functools.cache
def event_model(limits: Limits = Limits()) -> type[BaseModel]:  # noqa: B008 - frozen, hashable
    """The WorkflowEvent model class for ``limits`` (built once per distinct limits)."""
    Text = Annotated[str, StringConstraints(min_length=1, max_length=limits.max_text_chars)]
    OptText = Annotated[str, StringConstraints(max_length=limits.max_text_chars)] | None
    Key = Annotated[str, StringConstraints(min_length=1, max_length=256)]
    Value = Annotated[str, StringConstraints(max_length=limits.max_map_value_chars)]
    StrMap = Annotated[dict[Key, Value], Field(max_length=limits.max_map_entries)]
    Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
    Role = Annotated[str, StringConstraints(min_length=1, max_length=128)]
    Content = Annotated[str, StringConstraints(max_length=limits.max_content_chars)] | None

    def one_of(enum: type[StrEnum]) -> Any:
        return Literal.__getitem__(tuple(m.value for m in enum))  # type: ignore[attr-defined]

    strict = ConfigDict(frozen=True, extra="forbid", strict=True)

    class Actor(BaseModel):
        model_config = strict
        id: Text
        type: one_of(ActorType)  # type: ignore[valid-type]
        roles: Annotated[list[Role], Field(max_length=64)] = []

    class ModelRef(BaseModel):
        model_config = strict
        name: Text
        version: OptText = None
        provider: OptText = None

    class WorkflowEvent(BaseModel):
        """A validated workflow event (SPEC §3)."""

        model_config = strict
        event_id: Uuid
        workflow_id: Text
        run_id: Text
        step: Text
        kind: one_of(StepKind)  # type: ignore[valid-type]
        actor: Actor
        action: Text
        data_classification: one_of(DataClassification)  # type: ignore[valid-type]
        occurred_at: Annotated[int, Field(ge=0, le=253402300799999)]
        on_behalf_of: OptText = None
        resource: OptText = None
        content: Content = None
        arguments: StrMap | None = None
        model: ModelRef | None = None
        confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
        cost_usd: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
        trace_id: OptText = None
        attributes: StrMap = {}

    return WorkflowEvent


#: The WorkflowEvent model with the default limits, for producers that want to build or
#: check events as typed objects: ``WorkflowEvent.model_validate(event_dict)``. The worker
#: uses :func:`event_model` with the limits from its settings.
WorkflowEvent: type[BaseModel] = event_model()
