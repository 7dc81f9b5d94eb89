"""Reading the stored intake decisions of a time window back from Kafka (``sluice policy diff``).

What is stored, and so what can be replayed:

- ``workflow.approvals`` (HeldEvent): every event the live policy held, with the
  sanitized event bytes, the findings, the first deciding rule, the policy hash, the
  roles and approval count, and ``received_at``.
- ``workflow.events.approved`` / ``.rejected`` (Outcome): every event intake allowed or
  denied (``source`` POLICY, no ``reason_code``), with the same sanitized event, the
  findings and the rule. Outcomes the gate wrote for held events (reviewer, expiry, a
  refused hold) are skipped: those events are replayed from their HeldEvent.
- ``workflow.audit``: an intake record per decision (event id, outcome, rule, policy
  hash, content hash) but no event content. It cannot be replayed; it is read to count
  the decisions of the window whose stored event is gone (``not_replayable``: the
  outcome topics keep 7 days, the approvals 30, the audit trail forever).

Raw input events are never replayed: ``workflow.events`` keeps them only 7 days and
holds secrets the sanitizer removed. The replayed event is the sanitized one, which is
what the live policy assessed too (intake assesses after sanitizing), with the stored
findings; so a replay differs from the original run only in state a rule cannot see
here (none today; a velocity count would be one) and in events never stored (DLQ).

Reads start at the offsets for ``since`` (``offsets_for_times``), so a short window
does not read a topic's whole history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from sluice.codec import Codec
from sluice.errors import DecodeError
from sluice.kafka import make_consumer, read_topic, refresh_metadata
from sluice.kafka.reads import OnProgress
from sluice.models.records import AuditStage, DecisionSource, OutcomeKind, RecordName, Transition
from sluice.settings import Settings
from sluice.shadow.diff import Stored
from sluice.topics import Topics

__all__ = [
    "StoredWindow",
    "offsets_since",
    "read_window",
    "stored_from_held",
    "stored_from_outcome",
]

log = logging.getLogger(__name__)

_INTAKE_TRANSITIONS = frozenset({Transition.APPROVED, Transition.REJECTED, Transition.HELD})


async def offsets_since(settings: Settings, topic: str, since_ms: int) -> dict[int, int] | None:
    """partition → first offset with a timestamp ≥ ``since_ms`` (the end offset when none);
    None when the topic does not exist."""
    consumer = make_consumer(settings, group_id=None)
    try:
        await consumer.start()
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await refresh_metadata(consumer)  # a topic just created
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            return None
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)  # a consumer stopped unassigned raises CancelledError
        found = await consumer.offsets_for_times(dict.fromkeys(tps, max(since_ms, 0)))
        end = await consumer.end_offsets(tps)
        return {
            tp.partition: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in tps
        }
    finally:
        await consumer.stop()


def _findings(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(rec.get("findings") or ())


def stored_from_held(codec: Codec, held: dict[str, Any]) -> Stored:
    """The stored decision of a decoded HeldEvent (live outcome: hold)."""
    return Stored(
        event_id=held["event_id"],
        kind=str(held["kind"]),
        live_outcome="hold",
        live_rule=held["rule"],
        live_policy_hash=held["policy_hash"],
        event=codec.decode(RecordName.WORKFLOW_EVENT, held["event"]),
        findings=_findings(held),
        at=int(held["received_at"]),
        hold=(tuple(sorted(held.get("roles") or ())), int(held.get("approvals") or 0)),
    )


def stored_from_outcome(codec: Codec, out: dict[str, Any]) -> Stored | None:
    """The stored decision of a decoded Outcome; None when intake did not write it."""
    if out.get("source") != DecisionSource.POLICY or out.get("reason_code") is not None:
        return None  # the gate's: a reviewer, an expiry, or a hold it refused
    approved = out.get("outcome") == OutcomeKind.APPROVED
    return Stored(
        event_id=out["event_id"],
        kind=str(out["kind"]),
        live_outcome="allow" if approved else "deny",
        live_rule=out.get("rule") or "",
        live_policy_hash=out.get("policy_hash") or "",
        event=codec.decode(RecordName.WORKFLOW_EVENT, out["event"]),
        findings=_findings(out),
        at=int(out.get("received_at") or out.get("decided_at") or 0),
    )


class StoredWindow:
    """The stored decisions of a window, each passed on once (by event id) as it is read."""

    def __init__(self, on_stored: Callable[[Stored], None]) -> None:
        self._on_stored = on_stored
        #: Event ids passed on (replayed).
        self.seen: set[str] = set()
        #: Event ids intake decided in the window, by the audit trail.
        self.audited: set[str] = set()
        self.undecodable = 0

    @property
    def not_replayable(self) -> int:
        """Audited intake decisions with no stored event to replay."""
        return len(self.audited - self.seen)

    def add(self, s: Stored | None) -> None:
        if s is not None and s.event_id not in self.seen:
            self.seen.add(s.event_id)
            self._on_stored(s)


async def _read(
    settings: Settings,
    topic: str,
    since_ms: int,
    timeout_s: float,
    on_progress: OnProgress | None,
    on_value: Callable[[bytes], None],
) -> None:
    offsets = await offsets_since(settings, topic, since_ms)
    if offsets is None:
        return
    async for rec in read_topic(settings, topic, timeout_s=timeout_s, from_offsets=offsets):
        if rec.value is not None:
            on_value(rec.value)
        if on_progress is not None:
            on_progress(1)


async def read_window(
    settings: Settings,
    codec: Codec,
    since_ms: int,
    until_ms: int,
    on_stored: Callable[[Stored], None],
    *,
    topics: Topics | None = None,
    audit: bool = True,
    timeout_s: float = 30.0,
    on_progress: OnProgress | None = None,
) -> StoredWindow:
    """Pass every stored intake decision received in ``[since_ms, until_ms]`` to
    ``on_stored`` as it is read, once per event id (module doc); the topics are read
    concurrently, records are not kept."""
    topics = topics or Topics.with_prefix(settings.topic_prefix)
    window = StoredWindow(on_stored)

    def inside(at: int) -> bool:
        return since_ms <= at <= until_ms

    def stored(value: bytes) -> None:
        # Intake's HeldEvents and Outcomes are disjoint by event id; the gate's Outcomes
        # (for held events) are skipped by stored_from_outcome.
        try:
            name, rec = codec.decode_any(value)
            if name == RecordName.HELD_EVENT:
                if inside(int(rec["received_at"])):
                    window.add(stored_from_held(codec, rec))
            elif name == RecordName.OUTCOME:
                s = stored_from_outcome(codec, rec)
                if s is not None and inside(s.at):
                    window.add(s)
        except (DecodeError, KeyError, TypeError, ValueError):
            window.undecodable += 1

    def audited(value: bytes) -> None:
        try:
            name, rec = codec.decode_any(value)
        except DecodeError:
            return
        if (
            name == RecordName.AUDIT_RECORD
            and rec.get("stage") == AuditStage.INTAKE
            and rec.get("transition") in _INTAKE_TRANSITIONS
            and rec.get("event_id")
            and inside(int(rec.get("at") or 0))
        ):
            window.audited.add(rec["event_id"])

    reads = [
        _read(settings, t, since_ms, timeout_s, on_progress, stored)
        for t in (topics.approvals, topics.approved, topics.rejected)
    ]
    if audit:
        reads.append(_read(settings, topics.audit, since_ms, timeout_s, on_progress, audited))
    await asyncio.gather(*reads)
    return window
