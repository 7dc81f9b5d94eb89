"""The gate agent: held events wait here until signed decisions (or the clock) release them.

State per partition is a :class:`sluice.gate.quorum.GateState`, backed by the compacted
``workflow.gate.state`` changelog (the held-events table). ``workflow.approvals``,
``workflow.decisions`` and the changelog are co-partitioned by event_id (range
assignment), so the worker that owns partition p sees every record about the events
of p. Each batch and each timer run is one Kafka transaction: outcome, audit and
changelog records and the input offsets commit together, so a release is visible
exactly once even across crashes.

The agent is thin: it decodes records, refuses decisions whose Kafka timestamp is not
the broker's LogAppendTime (the arrival time the state machine trusts), feeds
:class:`GateState`, and writes its effects. A registry swapped by
:meth:`GateAgent.reload_registry` is revalidated (votes of dead keys withdrawn) in the
next transaction.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from sluice import tracing
from sluice.agents.base import Stage
from sluice.clock import now_ms
from sluice.codec import Codec
from sluice.gate.amend import AmendmentChecker
from sluice.gate.quorum import (
    Effect,
    Entry,
    GateState,
    Refusal,
    RegistryLike,
    closed_marker_ttl_ms,
)
from sluice.headers import carry
from sluice.http import Health
from sluice.kafka import read_partition
from sluice.metrics import Metrics
from sluice.models.records import (
    AuditStage,
    DecisionSource,
    Disposition,
    OutcomeKind,
    ReasonCode,
    RecordName,
    Transition,
    audit_entry,
    outcome_of_held,
)
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = ["LOG_APPEND_TIME", "GateAgent", "closed_ttl_ms", "timestamp_refusal"]

log = logging.getLogger(__name__)

#: aiokafka ``ConsumerRecord.timestamp_type`` of a broker-stamped (LogAppendTime) record.
LOG_APPEND_TIME = 1


def closed_ttl_ms(settings: Settings) -> int:
    """How long the gate remembers a closed event_id, from intake's occurred_at window."""
    return closed_marker_ttl_ms(
        max_past_seconds=settings.max_past_seconds,
        max_future_seconds=settings.max_future_seconds,
        early_decision_ttl_seconds=settings.early_decision_ttl_seconds,
    )


def timestamp_refusal(rec: Any) -> Refusal | None:
    """``not_log_append_time`` unless the record's timestamp was set by the broker."""
    if getattr(rec, "timestamp_type", None) != LOG_APPEND_TIME:
        return Refusal.NOT_LOG_APPEND_TIME
    return None


class GateAgent(Stage):
    """Consumes ``workflow.approvals`` and ``workflow.decisions`` as group ``gate_group_id``."""

    name = "gate"

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        metrics: Metrics,
        health: Health,
        registry: RegistryLike,
        topics: Topics,
        signer: Any = None,
        amendments: AmendmentChecker | None = None,
    ) -> None:
        super().__init__(
            settings,
            codec,
            metrics,
            health,
            group_id=settings.gate_group_id,
            inputs=[topics.approvals, topics.decisions],
            chain_topic=topics.approvals,
            audit_topic=topics.audit,
            signer=signer,
            assignor=RangePartitionAssignor,
        )
        self.topics = topics
        self.registry = registry
        #: Checks approvals with amendments (None: every amendment is refused).
        self.amendments = amendments
        self.states: dict[int, GateState] = {}
        self._touched: set[int] = set()
        self._next_tick = 0.0
        self._committed: list[Effect] = []
        self._gauges_at = 0.0
        self._held_roles: set[str] = set()
        #: registry generation swapped in / revalidated in a committed transaction
        self._registry_gen = 0
        self._revalidated_gen = 0
        self._revalidating_gen = 0

    # -- state ---------------------------------------------------------------------

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            if tp.topic == self.topics.approvals:
                self.states[tp.partition] = await self._restore(tp.partition)
        self._gauges(force=True)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            if tp.topic == self.topics.approvals:
                self.states.pop(tp.partition, None)
        self._gauges(force=True)

    def reload_registry(self, registry: RegistryLike) -> None:
        """Use ``registry`` from now on; the next transaction withdraws dead-key votes."""
        self.registry = registry
        for state in self.states.values():
            state.registry = registry
        self._registry_gen += 1
        self._next_tick = 0.0  # run the revalidation at the next loop turn

    def _new_state(self) -> GateState:
        s = self.settings
        return GateState(
            self.registry,
            early_ttl_ms=s.early_decision_ttl_seconds * 1000,
            closed_ttl_ms=closed_ttl_ms(s),
            skew_ms=s.decision_clock_skew_seconds * 1000,
            amendments=self.amendments,
        )

    async def _restore(self, partition: int) -> GateState:
        state = self._new_state()
        records = await read_partition(self.settings, self.topics.gate_state, partition)
        for rec in records:
            if rec.key is None:
                continue
            eid = rec.key.decode()
            state.restore(Entry.from_bytes(rec.value) if rec.value is not None else None, eid)
        log.info(
            "gate partition restored", extra={"partition": partition, "entries": len(state.entries)}
        )
        return state

    async def rollback_state(self) -> None:
        # Aborts are rare: reload touched partitions from the committed changelog.
        for p in self._touched:
            if p in self.states:
                self.states[p] = await self._restore(p)
        self._touched = set()
        self._committed = []

    # -- processing ----------------------------------------------------------------

    async def idle(self) -> None:
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + self.settings.expiry_interval_ms / 1000
        t = now_ms()
        due = any(d is not None and d <= t for d in (s.next_due_ms() for s in self.states.values()))
        if due or self._registry_gen != self._revalidated_gen:
            await self._transact({})
        self._gauges()

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        now = now_ms()
        self._touched = set()
        self._committed = []
        n = 0
        self._revalidating_gen = self._registry_gen
        if self._revalidating_gen != self._revalidated_gen:
            for p, state in self.states.items():
                effects = state.revalidate(now)
                if effects:
                    self._touched.add(p)
                    await self._apply(p, effects, now)
        for p, state in self.states.items():
            effects = state.tick(now)
            if effects:
                self._touched.add(p)
                await self._apply(p, effects, now)
        for tp, records in batch.items():
            part_state = self.states.get(tp.partition)
            if part_state is None:
                continue
            state = part_state
            self._touched.add(tp.partition)
            for rec in records:
                n += 1
                if tp.topic == self.topics.approvals:
                    effects = self._on_held(state, rec, now)
                else:
                    effects = self._on_decision(state, rec, now)
                await self._apply(tp.partition, effects, now)
        self._gauges()  # rate-limited; under steady load idle() does not run
        return n

    def _on_held(self, state: GateState, rec: Any, now: int) -> list[Effect]:
        try:
            held = self.codec.decode(RecordName.HELD_EVENT, rec.value)
        except Exception as exc:
            log.error(
                "undecodable HeldEvent on approvals topic",
                extra={
                    "partition": rec.partition,
                    "offset": rec.offset,
                    "error": type(exc).__name__,
                },
            )
            return [
                Effect(
                    "audit",
                    "",
                    {
                        "transition": Transition.INVALID,
                        "reason_code": ReasonCode.BAD_HELD_EVENT,
                        "source": f"{rec.topic}/{rec.partition}/{rec.offset}",
                    },
                )
            ]
        # What intake carried (re-filtered: the approvals topic has other writers too).
        headers = carry(rec.headers) if rec.headers else []
        effects = state.on_held(held, rec.value, now, headers)
        if headers:
            for e in effects:
                if e.kind == "held_refused":
                    e.data["headers"] = headers
        return effects

    def _on_decision(self, state: GateState, rec: Any, now: int) -> list[Effect]:
        try:
            dec = self.codec.decode(RecordName.DECISION, rec.value)
        except Exception:
            eid = rec.key.decode("utf-8", "replace")[:64] if rec.key else ""
            return [
                Effect(
                    "refused",
                    eid,
                    {"reason": "malformed", "reviewer_id": None, "decision_id": None},
                )
            ]
        if rec.key is None or rec.key.decode("utf-8", "replace") != dec["event_id"]:
            # Keyed by something else, it sits in a partition that may not own the
            # event: it could never be matched. Refuse it rather than park it.
            return [
                Effect(
                    "refused",
                    dec["event_id"],
                    {
                        "reason": "malformed",
                        "reviewer_id": dec.get("reviewer_id"),
                        "decision_id": dec.get("decision_id"),
                    },
                )
            ]
        refusal = timestamp_refusal(rec)
        if refusal is not None:
            # A producer-chosen timestamp could date a late vote before the expiry.
            return [
                Effect(
                    "refused",
                    dec["event_id"],
                    {
                        "reason": refusal.value,
                        "reviewer_id": dec.get("reviewer_id"),
                        "decision_id": dec.get("decision_id"),
                    },
                )
            ]
        return state.on_decision(dec, int(rec.timestamp), now)

    async def _apply(self, p: int, effects: list[Effect], now: int) -> None:
        send = self.out.add
        if tracing.active is not None:  # spans; sets the release's traceparent
            tracing.active.gate(effects, self.states.get(p))
        for e in effects:
            key = e.event_id.encode() if e.event_id else None
            if e.kind == "audit":
                await self.send_audit(
                    p,
                    key,
                    audit_entry(AuditStage.GATE, at=now, event_id=e.event_id or None, **e.data),
                )
            elif e.kind == "refused":
                await self.send_audit(
                    p,
                    key,
                    audit_entry(
                        AuditStage.GATE,
                        Transition.DECISION_REFUSED,
                        at=now,
                        outcome=Disposition.REFUSED,
                        event_id=e.event_id or None,
                        reason_code=e.data["reason"],
                        reviewer_id=e.data.get("reviewer_id"),
                        decision_id=e.data.get("decision_id"),
                    ),
                )
                self._committed.append(e)
            elif e.kind == "changelog":
                value = e.entry.to_bytes() if e.entry is not None else None
                await send(self.topics.gate_state, value, key=key, partition=p)
            elif e.kind == "release":
                await send(*self._outcome(e, now), key=key, headers=e.data.get("headers"))
                self._committed.append(e)
            elif e.kind == "held_refused":
                await send(*self._refused_outcome(e, now), key=key, headers=e.data.get("headers"))
                self._committed.append(e)
            elif e.kind == "republish":
                # For reviewers only: read back, it is a same-content re-send (no-op).
                held = self.codec.decode(RecordName.HELD_EVENT, e.data["held"])
                held.update(
                    roles=e.data["roles"],
                    approvals=e.data["approvals"],
                    requirements=e.data["requirements"],
                    expires_at=e.data["expires_at"],
                    held_at=e.data["held_at"],
                )
                await send(
                    self.topics.approvals,
                    self.codec.encode(RecordName.HELD_EVENT, held),
                    key=key,
                    partition=p,
                    headers=e.data.get("headers"),
                )
            elif e.kind == "counted":
                self._committed.append(e)

    def _outcome(self, e: Effect, now: int) -> tuple[str, bytes]:
        held = self.codec.decode(RecordName.HELD_EVENT, e.data["held"])
        outcome = OutcomeKind(e.data["outcome"])
        source = DecisionSource(e.data["source"])
        if e.data.get("amended") is not None:
            # Approved with amendments: the amended bytes every counted vote signed.
            held.update(
                event=e.data["amended"],
                findings=e.data["amended_findings"],
                content_hash=e.data["content_hash"],
            )
        rec = outcome_of_held(
            held,
            outcome=outcome,
            source=source,
            reason=e.data.get("reason"),
            reviewers=e.data["reviewers"],
            reason_code=ReasonCode.EXPIRY if source == DecisionSource.EXPIRY else None,
            decided_at=now,
            original_content_hash=e.data.get("original_content_hash"),
            amended_fields=e.data.get("amended_fields") or (),
        )
        topic = self.topics.approved if outcome == OutcomeKind.APPROVED else self.topics.rejected
        return topic, self.codec.encode(RecordName.OUTCOME, rec)

    def _refused_outcome(self, e: Effect, now: int) -> tuple[str, bytes]:
        """The Outcome for a HeldEvent the gate will not hold: its own body, rejected."""
        held = self.codec.decode(RecordName.HELD_EVENT, e.data["held"])
        rec = outcome_of_held(
            held,
            outcome=OutcomeKind.REJECTED,
            source=DecisionSource.POLICY,
            reason="the gate refused this hold: " + e.data["reason"].replace("_", " "),
            reviewers=[],
            reason_code=e.data["reason"],
            decided_at=now,
            # Its own content_hash is the claim that may be false: hash what it carries.
            content_hash=hashlib.sha256(held["event"]).hexdigest(),
        )
        return self.topics.rejected, self.codec.encode(RecordName.OUTCOME, rec)

    def after_commit(self, batch: dict[TopicPartition, list[Any]], n: int, seconds: float) -> None:
        m = self.metrics
        now = now_ms()
        for e in self._committed:
            if e.kind == "release":
                verdict = "approve" if e.data["outcome"] == OutcomeKind.APPROVED else "reject"
                m.decisions.labels(verdict, e.data["source"].lower()).inc()
                m.decision_wait.observe(max(0.0, (now - e.data["held_at"]) / 1000))
            elif e.kind == "refused":
                m.decisions_refused.labels(e.data["reason"]).inc()
            elif e.kind == "held_refused":
                m.held_refused.labels(e.data["reason"]).inc()
        self._committed = []
        self._revalidated_gen = self._revalidating_gen
        self._touched = set()
        self.health.ready[self.name] = True  # state restored and transactions committing
        m.last_event_timestamp.labels(self.name).set(time.time())
        self._gauges()

    def _gauges(self, force: bool = False) -> None:
        # O(entries): at most every 5 s, so a million holds do not cost every loop turn.
        mono = time.monotonic()
        if not force and mono - self._gauges_at < 5.0:
            return
        self._gauges_at = mono
        roles = getattr(self.registry, "roles", None)
        known = roles if isinstance(roles, frozenset) else frozenset()
        held = dict.fromkeys(known | {"other"}, 0)  # bounded by the registry
        oldest: int | None = None
        for s in self.states.values():
            for e in s.entries.values():
                if e.status == "open":
                    held[e.role_label(known)] += 1
                    if oldest is None or e.held_at < oldest:
                        oldest = e.held_at
        if set(held) != self._held_roles:  # roles left the registry: drop their series
            self.metrics.held_events.clear()
            self._held_roles = set(held)
        for role, n in held.items():
            self.metrics.held_events.labels(role).set(n)
        self.metrics.oldest_held_age.set(0 if oldest is None else max(0, now_ms() - oldest) / 1000)
