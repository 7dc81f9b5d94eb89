"""What became of a published decision (:class:`DecisionResult`), and waiting for it.

Used by :mod:`sluice.review` (``wait=True``).

:class:`Watch` assigns every partition of ``workflow.events.approved``,
``workflow.events.rejected`` and ``workflow.audit`` (no consumer group, committed
records only) and resolves its position at their ends *before* the decision is
published, so the answer cannot slip past. It then reads records keyed by the event id
(how the gate keys outcomes and its audit records) and folds them with :func:`observe`:

- an Outcome for the event: released (``approved``/``rejected``), whoever decided it;
  a refused duplicate HeldEvent's Outcome (``duplicate_event_id``...) is not a release;
- an audit ``decision_refused`` with this decision id: refused, with its reason code;
- an audit ``decision_counted`` with this decision id: counted, and keep waiting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import TopicPartition

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

    from sluice.settings import Settings

__all__ = ["DecisionResult", "Seen", "Status", "Watch", "observe"]

#: Outcome reason codes of HeldEvents the gate refused: not a release of the open hold.
_NOT_A_RELEASE = frozenset({"duplicate_event_id", "content_hash_mismatch"})


#: What became of a decision: ``published`` (not waited for), ``approved`` /
#: ``rejected`` (the event was released so), ``refused`` (the gate did not count it),
#: ``pending`` (no outcome before the timeout).
Status = Literal["published", "approved", "rejected", "refused", "pending"]


@dataclass(frozen=True)
class DecisionResult:
    """A published decision and, with ``wait``, what the gate made of it."""

    #: The signed Decision record as published.
    decision: dict[str, Any]
    status: Status = "published"
    #: The gate's refusal reason (a :class:`sluice.gate.votes.Refusal` value) when refused.
    refusal: str | None = None
    #: Whether the gate counted this vote (seen in its audit records while waiting).
    counted: bool = False
    #: The Outcome record of the release (``approved``/``rejected``), else None.
    outcome: dict[str, Any] | None = None

    @property
    def decision_id(self) -> str:
        """The published decision's id."""
        return str(self.decision["decision_id"])

    def summary(self) -> str:
        """One line for people: the decision id and what became of it (reviewer text
        with invisible characters made visible)."""
        from sluice.gate.marks import visible

        if self.status == "refused":
            return f"{self.decision_id} refused: {self.refusal}"
        if self.status in ("approved", "rejected") and self.outcome is not None:
            by = visible(", ".join(self.outcome.get("reviewers") or [])) or "-"
            reason = visible(self.outcome.get("reason") or "")
            amended = self.outcome.get("amended_fields") or []
            return (
                f"{self.decision_id} {self.status} (source {self.outcome.get('source')}, "
                f"reviewers {by})"
                + (f", amended: {visible(', '.join(amended))}" if amended else "")
                + (f": {reason}" if reason else "")
            )
        if self.status == "pending":
            how = "counted, event still held" if self.counted else "no answer from the gate"
            return f"{self.decision_id} pending ({how})"
        return self.decision_id


@dataclass(frozen=True)
class Seen:
    """What was seen so far about one decision."""

    status: Literal["approved", "rejected", "refused", "pending"] = "pending"
    refusal: str | None = None
    counted: bool = False
    outcome: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        """True once nothing more is to be waited for."""
        return self.status != "pending"


def observe(seen: Seen, kind: str, record: dict[str, Any], decision_id: str) -> Seen:
    """Fold one record about the event into ``seen`` (pure).

    ``kind``: ``approved`` / ``rejected`` (an Outcome from that topic) or ``audit``
    (an AuditRecord).
    """
    if seen.final:
        return seen
    if kind in ("approved", "rejected"):
        if record.get("reason_code") in _NOT_A_RELEASE:
            return seen
        status: Literal["approved", "rejected"] = "approved" if kind == "approved" else "rejected"
        return Seen(status=status, counted=seen.counted, outcome=record)
    if record.get("decision_id") != decision_id:
        return seen
    transition = record.get("transition")
    if transition == "decision_refused":
        return Seen(status="refused", refusal=record.get("reason_code") or "refused")
    if transition == "decision_counted":
        return Seen(counted=True)
    return seen


class Watch:
    """``async with Watch(settings, event_id, decision_id) as w: publish; await
    w.result(timeout_s)``."""

    def __init__(self, settings: Settings, event_id: str, decision_id: str) -> None:
        from sluice.topics import Topics

        self.settings = settings
        self.event_id = event_id
        self.decision_id = decision_id
        topics = Topics.with_prefix(settings.topic_prefix)
        self.kinds = {
            topics.approved: "approved",
            topics.rejected: "rejected",
            topics.audit: "audit",
        }
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> Watch:
        from sluice.kafka import make_consumer, refresh_metadata

        consumer = make_consumer(self.settings, auto_offset_reset="latest")  # no group
        self._consumer = consumer
        try:
            await consumer.start()
            tps: list[TopicPartition] = []
            for topic in self.kinds:
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await refresh_metadata(consumer)
                    parts = consumer.partitions_for_topic(topic) or set()
                tps += [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)  # resolve the end offset now, not lazily
        except BaseException:
            await consumer.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def result(self, timeout_s: float) -> Seen:
        """Read until the decision is released or refused, or ``timeout_s`` passes."""
        from sluice.codec import default_codec
        from sluice.errors import DecodeError

        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("use Watch as an async context manager")
        codec = default_codec()
        key = self.event_id.encode()
        seen = Seen()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not seen.final:
            left = deadline - loop.time()
            if left <= 0:
                break
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for tp, records in batch.items():
                kind = self.kinds[tp.topic]
                for rec in records:
                    if rec.key != key or rec.value is None:
                        continue
                    try:
                        name = "AuditRecord" if kind == "audit" else "Outcome"
                        value = codec.decode(name, rec.value)
                    except DecodeError:
                        continue  # not ours to judge; the audit verifier reports it
                    seen = observe(seen, kind, value, self.decision_id)
        return seen
