"""sluice.kafka.prefetch: the buffer hands out every fetched record once, in order, and
a pause never loses one (its first offsets are returned for the stage to seek back to)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import TopicPartition

from sluice.kafka.prefetch import Prefetcher
from tests.unit.prefetch_cleanup import stop_prefetchers  # noqa: F401 (autouse fixture)

A = TopicPartition("in", 0)
B = TopicPartition("in", 1)


@dataclass
class Rec:
    offset: int


class FakeConsumer:
    """``getmany`` hands out the records of ``feed`` one fetch at a time, blocking (up to
    its timeout) while none is due; ``errors`` are raised first, one per call."""

    def __init__(self) -> None:
        self.feed: asyncio.Queue[dict[TopicPartition, list[Rec]]] = asyncio.Queue()
        self.errors: list[BaseException] = []
        self.calls = 0
        self.drained = 0

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Rec]]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        try:
            got = await asyncio.wait_for(self.feed.get(), timeout_ms / 1000)
        except TimeoutError:
            return {}
        self.drained += sum(len(r) for r in got.values())
        return got


def recs(*offsets: int) -> list[Rec]:
    return [Rec(o) for o in offsets]


async def test_records_arriving_during_a_batch_are_fetched_and_handed_out_in_order() -> None:
    c = FakeConsumer()
    p = Prefetcher(c, timeout_ms=50, max_records=100, stall_s=60)
    await c.feed.put({A: recs(0, 1)})
    assert await p.next_batch() == {A: recs(0, 1)}
    # "The transaction": three fetches arrive meanwhile, all taken off the consumer.
    for chunk in ({A: recs(2)}, {B: recs(0)}, {A: recs(3, 4), B: recs(1)}):
        await c.feed.put(chunk)
    await asyncio.sleep(0.05)
    assert c.drained == 7 and p.buffered == 5
    assert p.first_offset(A) == 2 and p.first_offset(B) == 0
    assert await p.next_batch() == {A: recs(2, 3, 4), B: recs(0, 1)}
    assert p.buffered == 0 and p.first_offset(A) is None
    assert await p.next_batch() == {}  # nothing within the timeout
    await p.pause()


async def test_a_batch_stays_within_max_records_and_keeps_the_rest() -> None:
    c = FakeConsumer()
    p = Prefetcher(c, timeout_ms=50, max_records=3, stall_s=60)
    for chunk in ({A: recs(0, 1)}, {A: recs(2, 3)}, {B: recs(0, 1, 2, 3)}):
        await c.feed.put(chunk)
    await p.next_batch()  # starts the loop
    await asyncio.sleep(0.05)
    seen: list[tuple[TopicPartition, int]] = []
    seen += [(tp, r.offset) for tp, rs in (await p.next_batch()).items() for r in rs]
    while p.buffered or not c.feed.empty():
        batch = await p.next_batch()
        assert sum(len(r) for r in batch.values()) <= 4  # one whole fetch may exceed
        seen += [(tp, r.offset) for tp, rs in batch.items() for r in rs]
    await p.pause()
    got_a = [o for tp, o in seen if tp == A]
    got_b = [o for tp, o in seen if tp == B]
    assert got_a == sorted(got_a) and len(set(got_a)) == len(got_a)
    assert got_b == [0, 1, 2, 3]


async def test_it_stops_fetching_when_the_buffer_is_full() -> None:
    c = FakeConsumer()
    p = Prefetcher(c, timeout_ms=20, max_records=2, stall_s=60)
    await p.next_batch()
    await c.feed.put({A: recs(0, 1)})
    await asyncio.sleep(0.1)
    calls = c.calls
    await c.feed.put({A: recs(2)})
    await asyncio.sleep(0.1)
    assert c.calls == calls and p.buffered == 2  # full: the next fetch stays queued
    assert await p.next_batch() == {A: recs(0, 1)}
    await asyncio.sleep(0.05)
    assert p.buffered == 1
    await p.pause()


async def test_it_stops_fetching_when_the_stage_stalls() -> None:
    """A stage stuck in a batch must not look alive to its group through this loop."""
    c = FakeConsumer()
    p = Prefetcher(c, timeout_ms=10, max_records=100, stall_s=0.05)
    await p.next_batch()
    await asyncio.sleep(0.15)
    calls = c.calls
    await asyncio.sleep(0.1)
    assert c.calls == calls
    await p.next_batch()
    await asyncio.sleep(0.03)
    assert c.calls > calls
    await p.pause()


async def test_pause_returns_the_first_buffered_offsets_and_loses_nothing() -> None:
    c = FakeConsumer()
    p = Prefetcher(c, timeout_ms=50, max_records=100, stall_s=60)
    await p.next_batch()
    await c.feed.put({A: recs(5, 6)})
    await c.feed.put({B: recs(9), A: recs(7)})
    await asyncio.sleep(0.05)
    assert await p.pause() == {A: 5, B: 9}
    assert p.buffered == 0
    # Cancelled while waiting in getmany: nothing was drained by the cancelled call.
    drained = c.drained
    await c.feed.put({A: recs(8)})
    assert await p.next_batch() == {A: recs(8)}
    assert c.drained == drained + 1


async def test_kafka_errors_are_retried_and_other_errors_reach_the_stage() -> None:
    c = FakeConsumer()
    c.errors = [KafkaConnectionError()]
    p = Prefetcher(c, timeout_ms=50, max_records=100, stall_s=60)
    await c.feed.put({A: recs(0)})
    got: dict[Any, list[Rec]] = {}
    for _ in range(40):  # the loop sleeps 1 s after a KafkaError
        got = await p.next_batch()
        if got:
            break
    assert got == {A: recs(0)}
    c.errors = [UnicodeDecodeError("utf-8", b"\xff", 0, 1, "poisoned")]
    with pytest.raises(UnicodeDecodeError):
        for _ in range(10):
            await p.next_batch()
    await p.pause()
