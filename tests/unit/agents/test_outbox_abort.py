"""A failed batch aborts its transaction, commits nothing and is read again (no broker).

The fake producer keeps each transaction's batches and offsets apart and makes them
visible only on a successful commit, like the broker does for read_committed readers;
the fake consumer records seeks. Complements ``test_transactions.py`` (broker faults:
fences, refused batches, bounded abort and restart) with the plain failure paths: the
handler raises, a batch is refused for good, the commit times out, and a control
record's transaction fails.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.structs import OffsetAndMetadata

from sluice.agents.base import Stage
from sluice.agents.control import append_control_audit
from sluice.audit.chain import ChainHead, ChainWriter
from sluice.kafka.heads import partition_heads
from sluice.kafka.outbox import DeliveryFailed, Outbox
from tests.unit.agents.fakes import FakeBatch, FakeStage, aborted, speed_up_restarts

IN0 = TopicPartition("in", 0)
IN1 = TopicPartition("in", 1)


class TxnProducer:
    """Transactional producer: what a transaction sent is visible only once committed.

    ``fail_send``: every batch fails for good (MessageSizeTooLarge); ``commit_error``:
    ``commit_transaction`` raises it.
    """

    def __init__(
        self, *, fail_send: bool = False, commit_error: BaseException | None = None
    ) -> None:
        self.fail_send = fail_send
        self.commit_error = commit_error
        self.calls: list[str] = []
        self.open: list[tuple[str, int, list[bytes | None]]] | None = None
        self.open_offsets: dict[TopicPartition, tuple[int, str]] = {}
        #: Every committed transaction: (records, offsets).
        self.committed: list[tuple[list[Any], dict[TopicPartition, tuple[int, str]]]] = []
        self.stopped = False

    async def start(self) -> None:
        self.calls.append("start")

    async def begin_transaction(self) -> None:
        assert self.open is None, "a transaction is already open"
        self.calls.append("begin")
        self.open, self.open_offsets = [], {}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> Any:
        assert self.open is not None
        self.open.append((topic, partition, batch.values))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_send:
            fut.set_exception(MessageSizeTooLargeError())
        else:
            fut.set_result(None)
        return fut

    async def send_offsets_to_transaction(self, offsets: Any, group: str) -> None:
        self.calls.append("offsets")
        self.open_offsets.update(offsets)

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        if self.commit_error is not None:
            raise self.commit_error
        assert self.open is not None
        self.committed.append((self.open, dict(self.open_offsets)))
        self.open = None

    async def abort_transaction(self) -> None:
        self.calls.append("abort")
        self.open = None

    async def stop(self) -> None:
        self.calls.append("stop")
        self.stopped = True


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def position(self, tp: TopicPartition) -> int:
        return 0


class Rec:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class Probe(FakeStage):
    """A stage whose handler audits each record and then does what ``fail`` says."""

    def __init__(self, producers: list[TxnProducer], assigned: set[TopicPartition]) -> None:
        super().__init__(producers)
        self.consumer = FakeConsumer(assigned)  # type: ignore[assignment]
        self._n_audit = 2
        for tp in assigned:
            self.chains[tp.partition] = ChainWriter(f"probe:{tp.partition}", None)
        self.fail: BaseException | None = None
        self.rolled_back = 0
        self.commits: list[int] = []

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        n = 0
        for tp, recs in batch.items():
            for rec in recs:
                await self.send_audit(
                    tp.partition, None, {"stage": "intake", "transition": f"r{rec.offset}"}
                )
                n += 1
        if self.fail is not None:
            raise self.fail
        return n

    async def rollback_state(self) -> None:
        self.rolled_back += 1

    def after_commit(self, batch: dict[TopicPartition, list[Any]], n: int, seconds: float) -> None:
        self.commits.append(n)


def seeks(stage: Stage) -> list[tuple[TopicPartition, int]]:
    assert isinstance(stage.consumer, FakeConsumer)
    return stage.consumer.seeks


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    speed_up_restarts(monkeypatch, 0.0, 0.0, 0.0)


async def test_a_handler_that_raises_aborts_commits_nothing_and_reads_the_batch_again() -> None:
    producer = TxnProducer()
    stage = Probe([producer], {IN0})
    stage.fail = ValueError("handler bug")
    before = stage.chains[0].head
    await stage._transact({IN0: [Rec(5), Rec(6)]})
    assert producer.calls == ["begin", "abort"]  # no offsets sent, no commit
    assert producer.committed == [] and producer.open is None
    assert seeks(stage) == [(IN0, 5)]  # the batch's first record comes again
    assert stage.chains[0].head == before and stage.rolled_back == 1
    assert stage.commits == [] and aborted(stage) == 1
    assert stage.producer is producer  # an abort that worked keeps the producer

    # The redo continues the chain from the head before the aborted batch.
    stage.fail = None
    await stage._transact({IN0: [Rec(5), Rec(6)]})
    assert stage.commits == [2] and len(producer.committed) == 1
    records, offsets = producer.committed[0]
    assert offsets == {IN0: (7, stage.chains[0].head.to_metadata())}
    assert stage.chains[0].head.seq == before.seq + 2
    assert sum(len(values) for _, _, values in records) == 2  # no record of the abort


async def test_a_batch_refused_for_good_is_never_committed_and_renews_the_producer() -> None:
    refused, fresh = TxnProducer(fail_send=True), TxnProducer()
    stage = Probe([refused, fresh], {IN0})
    before = stage.chains[0].head
    await stage._transact({IN0: [Rec(3)]})
    assert "commit" not in refused.calls and refused.committed == []
    # Its sequence numbers are ahead of the broker's now: no abort, a new producer.
    assert "abort" not in refused.calls and refused.stopped
    assert stage.producer is fresh and fresh.calls == ["start"]
    assert seeks(stage) == [(IN0, 3)]
    assert stage.chains[0].head == before and stage.rolled_back == 1 and aborted(stage) == 1
    await stage._transact({IN0: [Rec(3)]})
    assert stage.commits == [1] and fresh.committed[0][1][IN0][0] == 4


async def test_a_commit_that_times_out_aborts_and_reads_the_batch_again() -> None:
    producer = TxnProducer(commit_error=KafkaTimeoutError())
    stage = Probe([producer], {IN0})
    before = stage.chains[0].head
    await stage._transact({IN0: [Rec(10), Rec(11)]})
    assert producer.calls[-2:] == ["commit", "abort"] and producer.committed == []
    assert seeks(stage) == [(IN0, 10)]
    assert stage.chains[0].head == before and stage.commits == [] and aborted(stage) == 1


async def test_only_partitions_still_assigned_are_sought_back() -> None:
    """A partition revoked meanwhile belongs to another worker: its offset is not ours."""
    producer = TxnProducer(commit_error=KafkaTimeoutError())
    stage = Probe([producer], {IN0, IN1})
    heads = {p: c.head for p, c in stage.chains.items()}
    assert isinstance(stage.consumer, FakeConsumer)
    stage.consumer.assigned = {IN1}
    await stage._transact({IN0: [Rec(1)], IN1: [Rec(8), Rec(9)]})
    assert seeks(stage) == [(IN1, 8)]
    assert {p: c.head for p, c in stage.chains.items()} == heads  # both chains rolled back


async def test_outbox_names_the_cause_of_a_batch_refused_for_good() -> None:
    p = TxnProducer(fail_send=True)
    await p.begin_transaction()
    out = Outbox(p, {})
    await out.add("t", b"v", key=b"k")  # partitioned by key over partitions_for
    await out.flush()
    with pytest.raises(DeliveryFailed, match="MessageSizeTooLargeError") as info:
        await out.delivered(1.0)
    assert isinstance(info.value.__cause__, MessageSizeTooLargeError)
    await out.delivered(1.0)  # checked once: the next transaction starts clean


class FakeAdmin:
    """Committed offsets as the stage's last commit left them."""

    def __init__(self, offset: int, head: ChainHead | None) -> None:
        self.offset, self.head = offset, head

    async def list_consumer_group_offsets(
        self, group_id: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        meta = self.head.to_metadata() if self.head is not None else ""
        return {tp: OffsetAndMetadata(self.offset, meta) for tp in partitions}


async def test_partition_heads_reads_offset_and_head() -> None:
    head = ChainHead(4, "ab" * 32)
    got = await partition_heads(FakeAdmin(12, head), "g", [IN0])  # type: ignore[arg-type]
    assert got[IN0].offset == 12 and got[IN0].head == head
    assert (await partition_heads(FakeAdmin(-1, None), "g", [IN0]))[IN0].head is None  # type: ignore[arg-type]
    assert await partition_heads(FakeAdmin(0, None), "g", []) == {}  # type: ignore[arg-type]


async def test_a_failed_control_record_rolls_its_chain_back_and_aborts() -> None:
    producer = TxnProducer(commit_error=KafkaTimeoutError())
    stage = Probe([producer], {IN0})
    head = stage.chains[0].head
    admin = FakeAdmin(7, head)
    fields = {"stage": "gate", "transition": "registry_reloaded"}
    assert await append_control_audit(stage, admin, fields) is False  # type: ignore[arg-type]
    assert producer.calls[-2:] == ["commit", "abort"] and producer.committed == []
    assert stage.chains[0].head == head

    producer.commit_error = None
    assert await append_control_audit(stage, admin, fields) is True  # type: ignore[arg-type]
    records, offsets = producer.committed[0]
    # Re-commits the group's committed offset (never the position) with the new head.
    assert offsets == {IN0: (7, stage.chains[0].head.to_metadata())}
    assert stage.chains[0].head.seq == head.seq + 1 and len(records) == 1
