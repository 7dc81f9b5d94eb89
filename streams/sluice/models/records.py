"""The records sluice's workers write, spelled once: one builder per record, and their words.

Each builder returns a plain dict, the Avro codec's input, built as one dict literal with
the fields in schema order: no validation and no pydantic. Parameters are the fields in
schema order: call a builder by keyword, except on intake's hot path, where binding a
score of keywords costs more than the dict (about 1 µs an event, measured), so
``sluice.pipeline`` passes them by position. ``tests/unit/models`` pins every
builder's parameters and keys, and every vocabulary's symbols, to ``schemas/*.avsc``.

The vocabularies (``OutcomeKind``, ``Transition``, ``ReasonCode``, ...) are
:class:`enum.StrEnum` members defined in :mod:`sluice.models.vocab` and re-exported here.
(On Python 3.11 reading ``Enum.MEMBER`` is several times slower than a global: hot
loops bind members once.)

- ``Outcome`` (intake, gate): :func:`outcome_record`; :func:`outcome_of_held` for a
  decoded ``HeldEvent``.
- ``HeldEvent`` (intake): :func:`held_event_record`, :func:`requirement_records`.
- ``DeadLetter`` (intake): :func:`dead_letter_record`.
- ``AuditRecord`` (intake, gate, worker): :func:`audit_entry`, the fields a stage sets;
  ``sluice.audit.chain.ChainWriter`` chains them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sluice.models.vocab import (
    AuditStage,
    DecisionSource,
    Disposition,
    ExpiryAction,
    OutcomeKind,
    PolicyEffect,
    ReasonCode,
    RecordName,
    Transition,
    Verdict,
)

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
    "audit_entry",
    "dead_letter_record",
    "event_field_names",
    "event_optional_fields",
    "held_event_record",
    "outcome_of_held",
    "outcome_record",
    "record_field_names",
    "requirement_records",
]


# -- builders -------------------------------------------------------------------------


def outcome_record(
    event_id: str,
    run_id: str,
    workflow_id: str,
    kind: str,
    trace_id: str | None,
    outcome: OutcomeKind | str,
    source: DecisionSource | str,
    rule: str,
    policy_hash: str,
    reason: str | None,
    reviewers: list[str],
    findings: list[dict[str, Any]],
    event: bytes,
    content_hash: str,
    reason_code: str | None,
    producer_key_id: str | None,
    received_at: int,
    decided_at: int,
    original_content_hash: str | None = None,
    amended_fields: Sequence[str] = (),
) -> dict[str, Any]:
    """An ``Outcome`` (workflow.events.approved / .rejected): the final word on an event.

    Parameters are in schema order; call by keyword, except on intake's hot path.
    ``original_content_hash`` and ``amended_fields`` are set for a release approved with
    amendments (``event`` and ``content_hash`` are then the amended event's); left out
    of the record otherwise (their schema defaults apply).
    """
    rec: dict[str, Any] = {
        "event_id": event_id,
        "run_id": run_id,
        "workflow_id": workflow_id,
        "kind": kind,
        "trace_id": trace_id,
        "outcome": outcome,
        "source": source,
        "rule": rule,
        "policy_hash": policy_hash,
        "reason": reason,
        "reviewers": reviewers,
        "findings": findings,
        "event": event,
        "content_hash": content_hash,
        "reason_code": reason_code,
        "producer_key_id": producer_key_id,
        "received_at": received_at,
        "decided_at": decided_at,
    }
    if original_content_hash is not None:
        rec["original_content_hash"] = original_content_hash
        rec["amended_fields"] = amended_fields
    return rec


def outcome_of_held(
    held: Mapping[str, Any],
    *,
    outcome: OutcomeKind | str,
    source: DecisionSource | str,
    reason: str | None,
    reviewers: list[str],
    reason_code: str | None,
    decided_at: int,
    content_hash: str | None = None,
    original_content_hash: str | None = None,
    amended_fields: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``Outcome`` of a decoded ``HeldEvent`` (the gate's releases and refusals).

    ``content_hash`` defaults to the held event's own; pass the hash of its body when
    that claim is not to be trusted. Approved with amendments: ``held`` carries the
    amended event and findings, ``content_hash`` is the amended hash, and
    ``original_content_hash`` / ``amended_fields`` say what it was amended from.
    """
    return outcome_record(
        event_id=held["event_id"],
        run_id=held["run_id"],
        workflow_id=held["workflow_id"],
        kind=held["kind"],
        trace_id=held.get("trace_id"),
        outcome=outcome,
        source=source,
        rule=held["rule"],
        policy_hash=held["policy_hash"],
        reason=reason,
        reviewers=reviewers,
        findings=held["findings"],
        event=held["event"],
        content_hash=held["content_hash"] if content_hash is None else content_hash,
        reason_code=reason_code,
        producer_key_id=held.get("producer_key_id"),
        received_at=held["received_at"],
        decided_at=decided_at,
        original_content_hash=original_content_hash,
        amended_fields=list(amended_fields),
    )


def requirement_records(reqs: Iterable[Any] | None) -> list[dict[str, Any]]:
    """Policy ``Requirement``\\ s (role, count, level) as HeldEvent ``Requirement`` records."""
    return [{"role": r.role, "count": int(r.count), "level": int(r.level)} for r in reqs or ()]


def held_event_record(
    event_id: str,
    run_id: str,
    workflow_id: str,
    kind: str,
    actor_id: str,
    on_behalf_of: str | None,
    trace_id: str | None,
    event: bytes,
    content_hash: str,
    findings: list[dict[str, Any]],
    rule: str,
    policy_hash: str,
    reason: str | None,
    risk_score: float,
    roles: list[str],
    approvals: int,
    on_expiry: ExpiryAction | str,
    escalate_roles: list[str],
    escalate_ttl_ms: int,
    requirements: list[dict[str, Any]],
    escalate_approvals: int,
    escalate_requirements: list[dict[str, Any]],
    escalate_carry_votes: bool,
    producer_key_id: str | None,
    received_at: int,
    held_at: int,
    expires_at: int,
) -> dict[str, Any]:
    """A ``HeldEvent`` (workflow.approvals): a sanitized event waiting for reviewers.

    Parameters are in schema order; call by keyword.
    """
    return {
        "event_id": event_id,
        "run_id": run_id,
        "workflow_id": workflow_id,
        "kind": kind,
        "actor_id": actor_id,
        "on_behalf_of": on_behalf_of,
        "trace_id": trace_id,
        "event": event,
        "content_hash": content_hash,
        "findings": findings,
        "rule": rule,
        "policy_hash": policy_hash,
        "reason": reason,
        "risk_score": risk_score,
        "roles": roles,
        "approvals": approvals,
        "on_expiry": on_expiry,
        "escalate_roles": escalate_roles,
        "escalate_ttl_ms": escalate_ttl_ms,
        "requirements": requirements,
        "escalate_approvals": escalate_approvals,
        "escalate_requirements": escalate_requirements,
        "escalate_carry_votes": escalate_carry_votes,
        "producer_key_id": producer_key_id,
        "received_at": received_at,
        "held_at": held_at,
        "expires_at": expires_at,
    }


def dead_letter_record(
    error_code: str,
    detail: str,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    source_timestamp: int | None,
    payload_size: int,
    payload_sha256: str,
    schema_fingerprint: str | None,
    event_id: str | None,
    preview: str | None,
    failed_at: int,
) -> dict[str, Any]:
    """A ``DeadLetter`` (workflow.dlq). ``detail`` and ``preview`` must already be redacted:
    the record never carries the payload, only where to find it and its hash.

    Parameters are in schema order; call by keyword, except on intake's hot path.
    """
    return {
        "error_code": error_code,
        "detail": detail,
        "source_topic": source_topic,
        "source_partition": source_partition,
        "source_offset": source_offset,
        "source_timestamp": source_timestamp,
        "payload_size": payload_size,
        "payload_sha256": payload_sha256,
        "schema_fingerprint": schema_fingerprint,
        "event_id": event_id,
        "preview": preview,
        "failed_at": failed_at,
    }


def audit_entry(
    stage: AuditStage | str,
    transition: Transition | str,
    event_id: str | None = None,
    run_id: str | None = None,
    workflow_id: str | None = None,
    trace_id: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
    actor_id: str | None = None,
    reviewer_id: str | None = None,
    decision_id: str | None = None,
    reason_code: str | None = None,
    rule: str | None = None,
    policy_hash: str | None = None,
    content_hash: str | None = None,
    detectors: Sequence[str] = (),
    source: str | None = None,
    at: int | None = None,
    producer_key_id: str | None = None,
    original_content_hash: str | None = None,
    amended_fields: Sequence[str] = (),
) -> dict[str, Any]:
    """The fields of one ``AuditRecord`` transition, for ``ChainWriter.append_fields``.

    Parameters are the fields a stage sets, in schema order; call by keyword, except on
    intake's hot path. The chain writer owns the rest (chain, seq, prev_hash, hash, and
    the key_id and signature of checkpoints, which only it writes); ``at`` defaults to
    the time of chaining. The gate-only ``reviewer_id`` and ``decision_id`` are set only
    when present (fewer keys for the writer to check on intake's path), and so is
    ``producer_key_id``, which came after v1 of the hash: a record without one keeps the
    v1 shape (the writer's fast path).
    """
    rec = {
        "stage": stage,
        "transition": transition,
        "event_id": event_id,
        "run_id": run_id,
        "workflow_id": workflow_id,
        "trace_id": trace_id,
        "kind": kind,
        "outcome": outcome,
        "actor_id": actor_id,
        "reason_code": reason_code,
        "rule": rule,
        "policy_hash": policy_hash,
        "content_hash": content_hash,
        "detectors": detectors,
        "source": source,
        "at": at,
    }
    if reviewer_id is not None:
        rec["reviewer_id"] = reviewer_id
    if decision_id is not None:
        rec["decision_id"] = decision_id
    if producer_key_id is not None:
        rec["producer_key_id"] = producer_key_id
    if original_content_hash is not None:  # approved with amendments (also after v1)
        rec["original_content_hash"] = original_content_hash
        rec["amended_fields"] = amended_fields
    return rec


# -- field lists, from the schemas --------------------------------------------------------


@functools.cache
def record_field_names(name: str) -> tuple[str, ...]:
    """The top-level field names of the current ``name`` schema, in schema order."""
    from sluice.codec import default_codec

    return tuple(f["name"] for f in default_codec().schema(name)["fields"])


@functools.cache
def event_field_names() -> tuple[str, ...]:
    """Every WorkflowEvent field, in schema order (``event.<name>`` in policies)."""
    return record_field_names(RecordName.WORKFLOW_EVENT)


@functools.cache
def event_optional_fields() -> tuple[str, ...]:
    """The WorkflowEvent fields that default to null (an emitter may leave them out)."""
    from sluice.codec import default_codec

    return tuple(
        f["name"]
        for f in default_codec().schema(RecordName.WORKFLOW_EVENT)["fields"]
        if "default" in f and f["default"] is None
    )
