"""The traffic of a chaos run: upstream events published at a steady pace, and a bot
that plays the reviewers on the approvals topic."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sluice.codec import default_codec
from sluice.kafka import refresh_metadata
from sluice.settings import Settings
from sluice.tools.chaos.scenario import Scenario

__all__ = ["DecisionBot", "encode_events", "pace"]

log = logging.getLogger(__name__)


def encode_events(events: Iterable[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs as upstream publishes them (key: run_id)."""
    codec = default_codec()
    return [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events]


async def pace(
    settings: Settings,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes | None]],
    rate: float,
    *,
    partition: int | None = None,
) -> float:
    """Publish ``items`` at about ``rate`` records/s; returns the seconds it took.

    Every send is awaited before returning (acks=all, idempotent producer).
    """
    from sluice.kafka import make_producer

    producer = make_producer(settings)
    await producer.start()
    t0 = time.monotonic()
    try:
        futs = []
        tick = 0.05
        per_tick = max(1, int(rate * tick))
        for i in range(0, len(items), per_tick):
            for key, value in items[i : i + per_tick]:
                futs.append(await producer.send(topic, value, key=key, partition=partition))
            due = t0 + (i + per_tick) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.monotonic() - t0


class DecisionBot:
    """Plays the reviewers: tails the approvals topic and decides CODE_PUBLISH holds.

    About ``approve_share`` are approved (by rm1), the rest rejected (by rm2, with a
    reason); ``duplicate_share`` of the decisions are sent twice (a redelivery the gate
    must refuse as a replay, never count twice). ``sent`` maps event_id → (verdict,
    send time ms) of the first copy.
    """

    def __init__(
        self,
        scn: Scenario,
        *,
        approve_share: float = 0.7,
        duplicate_share: float = 0.3,
        seed: int = 0,
        kinds: tuple[str, ...] = ("CODE_PUBLISH",),
    ) -> None:
        self.scn = scn
        self.approve_share = approve_share
        self.duplicate_share = duplicate_share
        self.kinds = kinds
        self.rng = random.Random(seed)  # noqa: S311 - test traffic, not crypto
        self.sent: dict[str, tuple[str, int]] = {}
        self.copies = 0
        self.errors = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Decide every matching held event seen until ``stop`` is set."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from sluice.kafka import make_producer

        codec = default_codec()
        s = self.scn.settings
        consumer = AIOKafkaConsumer(
            **s.kafka_kwargs(),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        producer = make_producer(s)
        await consumer.start()
        await producer.start()
        try:
            parts = consumer.partitions_for_topic(self.scn.topics.approvals) or set()
            if not parts:
                await refresh_metadata(consumer)  # fresh topic
                parts = consumer.partitions_for_topic(self.scn.topics.approvals) or set()
            consumer.assign([TopicPartition(self.scn.topics.approvals, p) for p in parts])
            while not stop.is_set():
                try:
                    batch = await consumer.getmany(timeout_ms=200, max_records=500)
                except Exception as exc:  # broker restarts: keep deciding afterwards
                    self.errors += 1
                    log.warning("decision bot fetch failed", extra={"error": type(exc).__name__})
                    await asyncio.sleep(0.5)
                    continue
                for recs in batch.values():
                    for rec in recs:
                        held = codec.decode("HeldEvent", rec.value)
                        if held["kind"] in self.kinds and held["event_id"] not in self.sent:
                            await self._decide(producer, held)
        finally:
            await producer.stop()
            await consumer.stop()

    async def _decide(self, producer: Any, held: dict[str, Any]) -> None:
        approve = self.rng.random() < self.approve_share
        if approve:
            value = self.scn.decision(held, "rm1")
        else:
            value = self.scn.decision(held, "rm2", "REJECT", reason="not this one")
        key = held["event_id"].encode()
        copies = 2 if self.rng.random() < self.duplicate_share else 1
        self.sent[held["event_id"]] = (
            "APPROVE" if approve else "REJECT",
            time.time_ns() // 1_000_000,
        )
        for _ in range(copies):
            await self._send(producer, key, value)
            self.copies += 1

    async def _send(self, producer: Any, key: bytes, value: bytes) -> None:
        # Across a broker restart a send fails (no metadata, no leader yet) instead of
        # waiting: send again, for up to a minute. A decision sent twice is a replay the
        # gate refuses (see ``duplicate_share``).
        from aiokafka.errors import KafkaError

        for attempt in range(120):
            try:
                await (await producer.send(self.scn.topics.decisions, value, key=key))
                return
            except KafkaError as exc:
                if attempt == 119:
                    raise
                self.errors += 1
                log.warning("decision send failed; retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(0.5)
