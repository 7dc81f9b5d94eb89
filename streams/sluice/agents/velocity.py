"""Velocity rules on Kafka: re-key events by actor, then count and assess in one hop.

Runs instead of the plain intake agent when the policy reads ``velocity.*``
(``docs/velocity.md``). Two stages, each one Kafka transaction per batch:

1. :class:`VelocityRouter` (group ``settings.group_id`` on ``workflow.events``) decodes
   each record only for its actor id and copies the bytes, as produced, to
   ``workflow.velocity.repartition`` keyed by :func:`sluice.velocity.actor_key`. It adds
   the ingest time, the source partition and offset and the original key as headers
   (and drops any such header a producer sent).
2. :class:`VelocityIntakeAgent` (group ``<group_id>-velocity``) consumes the
   repartition topic. Every event of one actor lands on one partition, so the worker
   owning that partition counts it exactly; it runs the whole intake pipeline with the
   counts in hand, and writes each changed actor's window state to the compacted
   ``workflow.velocity.changelog`` (same partition number) in the same transaction as
   the outcome. A new owner (rebalance, restart) restores the partition's counts from
   the changelog before it processes a record.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition

from sluice.agents.base import Stage
from sluice.agents.intake import IntakeAgent
from sluice.clock import now_ms
from sluice.codec import Codec
from sluice.codec.framed import resolve_batch
from sluice.http import Health
from sluice.kafka import read_partition
from sluice.metrics import Metrics
from sluice.models.records import RecordName
from sluice.pipeline import Intake
from sluice.settings import Settings
from sluice.topics import Topics
from sluice.velocity import VELOCITY_CHAIN, WindowCounter, actor_key, velocity_group

__all__ = [
    "HEADER_AT",
    "HEADER_KEY",
    "HEADER_PREFIX",
    "VelocityIntakeAgent",
    "VelocityRouter",
]

log = logging.getLogger(__name__)

#: Headers the router sets; any header starting with the prefix a producer sent is dropped.
HEADER_PREFIX = "sluice-velocity"
#: ``<ingest ms> <source partition> <source offset>`` (ASCII).
HEADER_AT = "sluice-velocity-src"
#: The record's original key (run_id by contract), when it had one.
HEADER_KEY = "sluice-velocity-key"
#: Idle actors are swept from the counts (tombstones in the changelog) this often.
SWEEP_EVERY_MS = 60_000

_EVENT = RecordName.WORKFLOW_EVENT.value


def _foreign(headers: Any) -> list[tuple[str, bytes]]:
    """The record's headers to copy: none named ``sluice-velocity*`` (a producer's
    forgery), none whose name is not UTF-8 (read with escapes: it cannot be written
    again, and no sluice header is named so; output records never carry it either)."""
    out: list[tuple[str, bytes]] = []
    for item in headers or ():
        if not isinstance(item, tuple) or len(item) != 2:
            continue
        name = item[0]
        if not isinstance(name, str) or name.lower().startswith(HEADER_PREFIX):
            continue
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            continue
        out.append(item)
    return out


class VelocityRouter(Stage):
    """``workflow.events`` → ``workflow.velocity.repartition`` keyed by actor."""

    name = "velocity-router"

    def __init__(
        self, settings: Settings, codec: Codec, metrics: Metrics, health: Health, topics: Topics
    ) -> None:
        # Same group and chain topic as plain intake: its committed offsets and chain
        # heads on workflow.events pass through untouched (the router never audits), so
        # a policy without velocity rules later resumes where this left off.
        super().__init__(
            settings,
            codec,
            metrics,
            health,
            group_id=settings.group_id,
            inputs=[topics.events],
            chain_topic=topics.events,
            audit_topic=topics.audit,
        )
        self.topics = topics
        #: workflow.events partitions whose committed offset carries a chain head.
        self._with_head: set[int] = set()

    async def _committed_heads(self, tps: list[TopicPartition]) -> dict[TopicPartition, Any]:
        heads = await super()._committed_heads(tps)
        self._with_head = {tp.partition for tp, head in heads.items() if head is not None}
        return heads

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        # The router never audits: it keeps a plain intake's committed chain heads as
        # they are, and commits none where there was none (no empty chain appears).
        for p in [p for p in self.chains if p not in self._with_head]:
            del self.chains[p]

    def route_key(self, value: bytes | None, key: bytes | None) -> bytes | None:
        """The repartition key: the normalized actor id, else the original key (a record
        that does not decode goes to the DLQ at the next hop either way)."""
        if value is None or len(value) > self.settings.max_record_bytes:
            return key
        try:
            actor = self.codec.decode(_EVENT, value)["actor"]["id"]
        except Exception:
            return key
        if not isinstance(actor, str):
            return key
        return actor_key(actor).encode("utf-8", "surrogatepass")

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        await resolve_batch(self.codec, batch)
        target = self.topics.velocity_repartition
        at = now_ms()
        n = 0
        for tp, records in batch.items():
            for rec in records:
                headers = _foreign(rec.headers)
                headers.append((HEADER_AT, f"{at} {tp.partition} {rec.offset}".encode()))
                if rec.key is not None:
                    headers.append((HEADER_KEY, rec.key))
                await self.out.add(
                    target, rec.value, key=self.route_key(rec.value, rec.key), headers=headers
                )
                n += 1
        return n


def unwrap(
    rec: Any, events_topic: str, own_topic: str, partition: int, now: int
) -> tuple[tuple[str, int, int], bytes | None, int, list[tuple[str, bytes]]]:
    """(source, original key, ingest ms, the producer's headers) of a repartitioned record.

    A record without the router's header (written to the internal topic by something
    else) keeps its own position, key and now as ingest time.
    """
    src = None
    key = None
    headers: list[tuple[str, bytes]] = []
    for name, value in rec.headers or ():
        if name == HEADER_AT and src is None and value is not None:
            src = value
        elif name == HEADER_KEY and key is None:
            key = value
        elif not (isinstance(name, str) and name.lower().startswith(HEADER_PREFIX)):
            headers.append((name, value))
    if src is not None:
        try:
            at_s, part_s, off_s = src.decode("ascii").split(" ")
            return (events_topic, int(part_s), int(off_s)), key, int(at_s), headers
        except (ValueError, UnicodeDecodeError):
            pass
    return (own_topic, partition, rec.offset), rec.key, now, headers


class VelocityIntakeAgent(IntakeAgent):
    """Intake on ``workflow.velocity.repartition``: count the actor, then assess."""

    chain_name = VELOCITY_CHAIN

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        metrics: Metrics,
        health: Health,
        intake: Intake,
        topics: Topics,
        refs: Any,
        signer: Any = None,
    ) -> None:
        super().__init__(
            settings,
            codec,
            metrics,
            health,
            intake,
            topics,
            signer,
            input_topic=topics.velocity_repartition,
            group_id=velocity_group(settings),
        )
        self.topics = topics
        self.refs = tuple(refs)
        self.counters: dict[int, WindowCounter] = {}
        self._next_sweep = 0

    # -- state ---------------------------------------------------------------------

    def _new_counter(self) -> WindowCounter:
        return WindowCounter(self.refs)

    async def restore(self, partition: int) -> WindowCounter:
        """The counts of one repartition partition, from its changelog partition."""
        counter = self._new_counter()
        records = await read_partition(self.settings, self.topics.velocity_changelog, partition)
        for rec in records:
            if rec.key is not None:
                counter.restore(rec.key.decode("utf-8", "surrogatepass"), rec.value)
        counter.commit()
        log.info(
            "velocity partition restored",
            extra={"partition": partition, "actors": len(counter), "records": len(records)},
        )
        return counter

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            if tp.topic == self.topics.velocity_repartition:
                self.counters[tp.partition] = await self.restore(tp.partition)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            if tp.topic == self.topics.velocity_repartition:
                self.counters.pop(tp.partition, None)

    async def rollback_state(self) -> None:
        for counter in self.counters.values():
            counter.rollback()

    # -- processing ----------------------------------------------------------------

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        await resolve_batch(self.codec, batch)
        process = self.begin_batch()
        emit = self.emit
        events_topic = self.topics.events
        changelog = self.topics.velocity_changelog
        now = now_ms()
        n = 0
        for tp, records in batch.items():
            part = tp.partition
            counter = self.counters.get(part)
            if counter is None:  # assigned without on_assigned (never expected)
                counter = self.counters[part] = await self.restore(part)
            for rec in records:
                source, key, at, headers = unwrap(rec, events_topic, tp.topic, part, now)
                r = process(rec.value, key, source, rec.timestamp, now, headers, (counter, at))
                await emit(r, part, source, now)
                n += 1
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_MS
            for counter in self.counters.values():
                counter.sweep(now)
        for part, counter in self.counters.items():
            for akey, value in counter.drain():
                await self.out.add(
                    changelog, value, key=akey.encode("utf-8", "surrogatepass"), partition=part
                )
        return n
