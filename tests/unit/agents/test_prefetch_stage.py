"""A stage with a prefetch buffer (sluice.kafka.prefetch) skips nothing (no broker).

Records fetched while a batch is in its transaction sit in the buffer, and the
consumer's position is already past them: an abort must read them again, and a
timer-only transaction (gate expiry) must commit the first buffered offset, not the
position."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition

from sluice.kafka.prefetch import Prefetcher
from tests.unit.agents.fakes import speed_up_restarts
from tests.unit.agents.test_outbox_abort import IN0, IN1, FakeConsumer, Probe, Rec, TxnProducer
from tests.unit.prefetch_cleanup import stop_prefetchers  # noqa: F401 (autouse fixture)


class FetchingConsumer(FakeConsumer):
    """Hands out ``fetches`` one per ``getmany``; its position is past all of them."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        super().__init__(assigned)
        self.fetches: list[dict[TopicPartition, list[Rec]]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Rec]]:
        if self.fetches:
            return self.fetches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def position(self, tp: TopicPartition) -> int:
        return 1000  # past every buffered record


class TimerProbe(Probe):
    """On an empty batch, moves partition 1's chain as a gate timer does."""

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        if not batch:
            await self.send_audit(1, None, {"stage": "gate", "transition": "expired"})
            return 0
        return await super().handle(batch)


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    speed_up_restarts(monkeypatch, 0.0, 0.0, 0.0)


def with_prefetch(stage: Probe, fetches: list[dict[TopicPartition, list[Rec]]]) -> Prefetcher:
    consumer = FetchingConsumer({IN0, IN1})
    consumer.fetches = fetches
    stage.consumer = consumer  # type: ignore[assignment]
    stage._prefetch = Prefetcher(consumer, timeout_ms=20, max_records=100, stall_s=60)
    return stage._prefetch


async def test_an_abort_reads_the_buffered_records_again_too() -> None:
    stage = Probe([TxnProducer()], {IN0, IN1})
    prefetch = with_prefetch(stage, [{IN0: [Rec(5), Rec(6)]}])
    batch = await prefetch.next_batch()
    assert [r.offset for r in batch[IN0]] == [5, 6]
    # Fetched during the batch's transaction:
    assert isinstance(stage.consumer, FetchingConsumer)
    stage.consumer.fetches += [{IN1: [Rec(10), Rec(11)]}, {IN0: [Rec(7)]}]
    await asyncio.sleep(0.05)
    assert prefetch.buffered == 3
    stage.fail = ValueError("handler bug")
    await stage._transact(batch)
    assert prefetch.buffered == 0
    # Buffered partitions from their first buffered record, then the batch's start
    # (the later seek of a partition wins).
    assert stage.consumer.seeks == [(IN1, 10), (IN0, 7), (IN0, 5)]


async def test_a_timer_transaction_commits_the_first_buffered_offset_not_the_position() -> None:
    producer = TxnProducer()
    stage = TimerProbe([producer], {IN0, IN1})
    prefetch = with_prefetch(stage, [])
    assert await prefetch.next_batch() == {}  # starts the fetch loop
    assert isinstance(stage.consumer, FetchingConsumer)
    stage.consumer.fetches.append({IN1: [Rec(40), Rec(41)]})
    await asyncio.sleep(0.05)
    assert prefetch.first_offset(IN1) == 40
    await stage._transact({})  # timers only: partition 1's chain moved
    assert len(producer.committed) == 1
    _, offsets = producer.committed[0]
    assert offsets[IN1][0] == 40  # not 1000: a crash now must not skip 40 and 41
    assert prefetch.buffered == 2  # still to be handed out
    await prefetch.pause()
