"""Stage transactions under broker faults, with a fake aiokafka producer (no broker).

What the fake reproduces of aiokafka's transactional producer (read from its sender and
accumulator): a batch refused with a retriable error (NotEnoughReplicas) is retried for
as long as the broker refuses it, never expired; ``abort_transaction`` and ``stop``
first wait for such batches; a transaction the broker timed out answers with
ProducerFenced.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, ProducerFenced

from sluice.agents import base
from sluice.kafka import outbox
from sluice.kafka.outbox import DeliveryFailed, Outbox, close_producer, restart_delays
from tests.unit.agents.fakes import FakeBatch, FakeStage, aborted, speed_up_restarts

TP = TopicPartition("in", 0)


class FakeAccumulator:
    def __init__(self, futs: list[asyncio.Future[None]]) -> None:
        self.futs = futs

    def fail_all(self, exc: BaseException) -> None:
        for f in self.futs:
            if not f.done():
                f.set_exception(exc)


class FakeProducer:
    """Transactional producer; ``refuse`` keeps produced batches pending (retried)."""

    instances: list[FakeProducer] = []

    def __init__(self, *, refuse: bool = False, fence_on: str | None = None) -> None:
        self.refuse = refuse
        self.fence_on = fence_on
        self.pending: list[asyncio.Future[None]] = []
        self.calls: list[str] = []
        self.stopped = False
        self.client = None
        self._sender: Any = None
        self._message_accumulator = FakeAccumulator(self.pending)
        FakeProducer.instances.append(self)

    async def start(self) -> None:
        self.calls.append("start")

    async def begin_transaction(self) -> None:
        self.calls.append("begin")

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> Any:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.refuse:
            fut.set_result(None)
        self.pending.append(fut)
        return fut

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    async def send_offsets_to_transaction(self, offsets: Any, group: str) -> None:
        self.calls.append("offsets")
        if self.fence_on == "offsets":
            raise ProducerFenced()

    async def _flush(self) -> None:
        # aiokafka: flush_for_commit / accumulator.close wait for every pending batch.
        await asyncio.wait(self.pending) if self.pending else None

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        await self._flush()
        if self.fence_on == "commit":
            raise ProducerFenced()

    async def abort_transaction(self) -> None:
        self.calls.append("abort")
        await self._flush()

    async def stop(self) -> None:
        self.calls.append("stop")
        await self._flush()
        self.stopped = True


class Probe(FakeStage):
    def __init__(self, producers: list[FakeProducer], **settings: Any) -> None:
        super().__init__(producers, **settings)
        self.handled = 0

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        self.handled += 1
        await self.out.add("out", b"v", key=b"k")
        return 1


class Rec:
    offset = 7


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    speed_up_restarts(monkeypatch, 0.01, 0.02, 0.01)


async def test_a_fence_from_commit_starts_a_new_producer_not_an_exit() -> None:
    """The broker timed the transaction out (NotEnoughReplicas outlasted it): the next
    commit answers ProducerFenced. Used to exit the worker; now a new producer redoes
    the batch."""
    first, second = FakeProducer(fence_on="commit"), FakeProducer()
    stage = Probe([first, second])
    await stage._transact({TP: [Rec()]})
    assert stage.producer is second and "start" in second.calls
    assert first.stopped and "abort" not in first.calls  # InitProducerId aborts it
    assert aborted(stage) == 1
    await stage._transact({TP: [Rec()]})
    assert second.calls[-1] == "commit" and stage.handled == 2


@pytest.mark.parametrize("where", ["offsets", "commit"])
async def test_fenced_again_and_again_is_another_worker(where: str) -> None:
    producers = [FakeProducer(fence_on=where) for _ in range(base.MAX_FENCED_IN_ROW)]
    stage = Probe([*producers, FakeProducer()])
    for _ in range(base.MAX_FENCED_IN_ROW - 1):
        await stage._transact({TP: [Rec()]})
    with pytest.raises(ProducerFenced):
        await stage._transact({TP: [Rec()]})


async def test_a_commit_in_between_resets_the_fence_count() -> None:
    seq = [FakeProducer(fence_on="commit"), FakeProducer()] * base.MAX_FENCED_IN_ROW
    stage = Probe([*seq, FakeProducer()])
    for _ in range(len(seq)):
        await stage._transact({TP: [Rec()]})  # fenced, then a good commit, ...
    assert stage._fenced_in_row == 0


async def test_batches_refused_past_the_transaction_timeout_end_in_a_new_producer() -> None:
    """NotEnoughReplicas: aiokafka retries the batch for as long as the broker refuses
    it. The stage used to wait for it without bound (and its abort and stop too)."""
    stuck, fresh = FakeProducer(refuse=True), FakeProducer()
    stage = Probe([stuck, fresh], transaction_timeout_ms=1000)
    await asyncio.wait_for(stage._transact({TP: [Rec()]}), 10)
    assert "commit" not in stuck.calls  # never committed without its records
    assert stage.producer is fresh and aborted(stage) == 1
    assert all(f.done() for f in stuck.pending)  # abandoned batches were failed
    await stage._transact({TP: [Rec()]})
    assert fresh.calls[-1] == "commit"


async def test_an_abort_that_waits_on_refused_batches_is_bounded() -> None:
    class AbortHangs(FakeProducer):
        async def send_offsets_to_transaction(self, offsets: Any, group: str) -> None:
            self.refuse = True
            raise KafkaConnectionError()  # any failure: the stage aborts

    stuck, fresh = AbortHangs(), FakeProducer()
    stuck.pending.append(asyncio.get_running_loop().create_future())  # retried forever
    stage = Probe([stuck, fresh])
    await asyncio.wait_for(stage._transact({TP: [Rec()]}), 10)
    assert "abort" in stuck.calls and stage.producer is fresh


async def test_restart_keeps_trying_with_a_capped_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, *a: Any) -> Any:
        slept.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(base.asyncio, "sleep", record)
    fails = 6

    class Flaky(Probe):
        async def _start_producer(self) -> None:
            nonlocal fails
            if fails:
                fails -= 1
                raise KafkaConnectionError()
            await super()._start_producer()

    stage = Flaky([FakeProducer(fence_on="commit"), FakeProducer()])
    await stage._transact({TP: [Rec()]})
    # Six failed attempts and the one that worked, each after a capped delay (the old
    # loop slept 1, 2, 4, ... up to 30 s); then the short pause before the redo.
    assert fails == 0
    assert slept == [0.01, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.5]
    assert "start" in stage.producer.calls


def test_restart_delays_are_capped_at_a_few_seconds() -> None:
    delays = list(itertools.islice(restart_delays(), 12))
    assert delays[0] < 1 and max(delays) == outbox.RESTART_MAX_S <= 5
    assert delays == sorted(delays)


async def test_close_producer_abandons_batches_that_would_never_flush() -> None:
    class Sender:
        def __init__(self) -> None:
            self.sender_task = asyncio.ensure_future(asyncio.Event().wait())

    p = FakeProducer()
    p.pending.append(asyncio.get_running_loop().create_future())
    p._sender = Sender()
    await asyncio.wait_for(close_producer(p, 0.1), 5)
    assert p.stopped and p._sender.sender_task.cancelled()


async def test_outbox_delivery_timeout_keeps_the_producers_futures() -> None:
    p = FakeProducer(refuse=True)
    out = Outbox(p, {})
    await out.add("t", b"v", partition=0)
    await out.flush()
    with pytest.raises(DeliveryFailed) as info:
        await out.delivered(0.05)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert not p.pending[0].cancelled()  # aiokafka still owns it
