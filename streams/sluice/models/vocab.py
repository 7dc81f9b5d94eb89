"""The vocabularies of sluice's records: :class:`enum.StrEnum`, spelled once.

A member *is* its string, so it goes into a record, an Avro enum, a metric label or an
audit hash as its value, and a decoded record's plain strings compare equal to the
members. ``tests/unit/models`` pins every symbol to ``schemas/*.avsc``.
:mod:`sluice.models.records` re-exports them beside the builders.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AuditStage",
    "DecisionSource",
    "Disposition",
    "ExpiryAction",
    "OutcomeKind",
    "PolicyEffect",
    "ReasonCode",
    "RecordName",
    "Transition",
    "Verdict",
]


class RecordName(StrEnum):
    """The Avro record names of ``schemas/*.avsc`` (what :class:`sluice.codec.Codec` takes)."""

    WORKFLOW_EVENT = "WorkflowEvent"
    OUTCOME = "Outcome"
    HELD_EVENT = "HeldEvent"
    DEAD_LETTER = "DeadLetter"
    AUDIT_RECORD = "AuditRecord"
    DECISION = "Decision"
    FINDING = "Finding"
    SHADOW_DISAGREEMENT = "ShadowDisagreement"


class OutcomeKind(StrEnum):
    """``Outcome.outcome`` (Avro enum ``OutcomeKind``)."""

    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class DecisionSource(StrEnum):
    """``Outcome.source`` (Avro enum ``DecisionSource``): who had the final word."""

    POLICY = "POLICY"
    REVIEWER = "REVIEWER"
    EXPIRY = "EXPIRY"


class Verdict(StrEnum):
    """``Decision.verdict`` (Avro enum ``Verdict``)."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"


class ExpiryAction(StrEnum):
    """``HeldEvent.on_expiry`` (Avro enum ``ExpiryAction``)."""

    REJECT = "REJECT"
    APPROVE = "APPROVE"
    ESCALATE = "ESCALATE"


class PolicyEffect(StrEnum):
    """What a policy rule (or the default) does with an event (``Assessment.outcome``)."""

    ALLOW = "allow"
    HOLD = "hold"
    DENY = "deny"


class Disposition(StrEnum):
    """What became of an input record, lower case: ``IntakeResult.outcome``, the
    ``outcome`` of audit records (a counted decision's audit record carries its
    :class:`Verdict` instead) and the ``outcome`` label of the events metric."""

    APPROVED = "approved"
    REJECTED = "rejected"
    HELD = "held"
    INVALID = "invalid"
    #: A decision the gate did not count (``decision_refused``).
    REFUSED = "refused"


class AuditStage(StrEnum):
    """``AuditRecord.stage``: whose chain the record is on."""

    INTAKE = "intake"
    GATE = "gate"
    CHECKPOINT = "checkpoint"


class Transition(StrEnum):
    """``AuditRecord.transition``: the step of an event's (or the gate's) life it records."""

    #: intake: the record went to the DLQ (also the gate: an undecodable HeldEvent).
    INVALID = "invalid"
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"
    #: gate: a HeldEvent for an event_id already held or decided, same content (no-op).
    HELD_RESENT = "held_resent"
    #: gate: a HeldEvent it will not hold (different content, or a lying content hash).
    HELD_REFUSED = "held_refused"
    DECISION_EARLY = "decision_early"
    DECISION_COUNTED = "decision_counted"
    DECISION_REFUSED = "decision_refused"
    VOTE_WITHDRAWN = "vote_withdrawn"
    EXPIRED = "expired"
    ESCALATED = "escalated"
    REGISTRY_RELOADED = "registry_reloaded"
    CHECKPOINT = "checkpoint"
    #: intake: a signed quarantine control applied (sluice.quarantine), or refused.
    QUARANTINE_ADDED = "quarantine_added"
    QUARANTINE_LIFT_COUNTED = "quarantine_lift_counted"
    QUARANTINE_LIFTED = "quarantine_lifted"
    CONTROL_REFUSED = "control_refused"


class ReasonCode(StrEnum):
    """``reason_code`` values of the gate that are neither an :class:`~sluice.errors.ErrorCode`,
    a decision :class:`~sluice.gate.quorum.Refusal` nor a ``HeldRefusal``."""

    #: The hold expired (``Outcome.reason_code`` of an EXPIRY release, and audit records).
    EXPIRY = "expiry"
    #: A record on the approvals topic that does not decode as a HeldEvent.
    BAD_HELD_EVENT = "bad_held_event"
    SAME_CONTENT = "same_content"
    ALREADY_DECIDED = "already_decided"
    LEVEL_REOPENED = "level_reopened"
    #: A reviewer's counted APPROVE replaced by their later APPROVE of other final bytes
    #: (approve with amendments: one reviewer, one version).
    SUPERSEDED = "superseded"
