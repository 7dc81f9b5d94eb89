"""A stage's consumer and transactional producer on librdkafka (confluent-kafka).

Selected with ``SLUICE_KAFKA_CLIENT=confluent`` (:mod:`sluice.kafka.transport`). The
classes here offer the few calls :class:`sluice.agents.base.Stage` makes on its aiokafka
clients (``getmany``, ``seek``, ``position``, ``begin/commit/abort_transaction``,
``send_offsets_to_transaction``), with the same record attributes and the same error
types (:class:`aiokafka.errors.KafkaError`, :class:`~aiokafka.errors.ProducerFenced`),
so the stage's transaction logic is one code path for both clients.

librdkafka moves the bytes in its own C threads; each blocking call (fetch, transaction
requests, flush) runs on daemon threads of the client's own (not asyncio's shared
executor), so the event loop is never blocked, and each wait is bounded
(:mod:`sluice.kafka.confluent_calls`): a transactional call librdkafka never returns from
(``send_offsets_to_transaction`` after a broker restart) abandons that producer, and the
stage starts a new one. Rebalance callbacks run inside the fetch on its thread and hand
the stage's async listener to the loop, waiting for it.

KIP-447: the input offsets are committed into the transaction with the consumer's group
metadata (member id and generation) taken at the fetch of the batch, so a worker that
stalled past its group membership and resumes has its stale commit refused by the broker
(the transaction aborts; the new owner's output is the only one read_committed
consumers see). aiokafka sends the group id only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, Producer
from confluent_kafka import KafkaError as CkError
from confluent_kafka import TopicPartition as CkTP

from sluice.kafka.confluent_calls import CallStuck, DaemonCalls, librdkafka_config
from sluice.settings import Settings

__all__ = [
    "CkConsumer",
    "CkFailure",
    "CkProducer",
    "CkRecord",
    "StaleGroupMetadata",
    "librdkafka_config",
    "translate",
]

log = logging.getLogger(__name__)

#: aiokafka's ``timestamp_type`` of a broker-stamped record (what the gate checks).
_AIO_LOG_APPEND_TIME = 1
#: Bound (seconds) on the stage's rebalance listener, run from the fetch thread.
_LISTENER_TIMEOUT_S = 120.0
#: Bound (seconds) on a blocking librdkafka call that has no timeout of its own.
_CALL_TIMEOUT_S = 30.0
#: How long past its own timeout a librdkafka call is awaited before it is abandoned.
_GRACE_S = 10.0
#: librdkafka error codes that mean this producer's epoch is fenced.
_FENCED = frozenset(
    {CkError._FENCED, CkError.PRODUCER_FENCED, CkError.INVALID_PRODUCER_EPOCH}  # noqa: SLF001
)
#: Codes of a stale group member's offset commit (KIP-447).
_STALE_MEMBER = frozenset(
    {CkError.ILLEGAL_GENERATION, CkError.UNKNOWN_MEMBER_ID, CkError.FENCED_INSTANCE_ID}
)


class StaleGroupMetadata(KafkaError):  # type: ignore[misc]
    """The broker refused the batch's offsets: this member's generation is over (KIP-447)."""


class CkFailure(KafkaError):  # type: ignore[misc]
    """A librdkafka error, named by its code (never a message that could carry secrets)."""


def translate(exc: KafkaException) -> KafkaError:
    err = exc.args[0] if exc.args else None
    if not isinstance(err, CkError):
        return CkFailure("KafkaException")
    code = err.code()
    if code in _FENCED:
        return ProducerFenced()
    if code in _STALE_MEMBER:
        return StaleGroupMetadata(err.name())
    return CkFailure(err.name())


@dataclass(slots=True)
class CkRecord:
    """One fetched record, with the attributes of aiokafka's ``ConsumerRecord`` sluice reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def _headers(msg: Any) -> Sequence[tuple[str, bytes]]:
    try:
        hdrs = msg.headers()
    except (UnicodeDecodeError, SystemError):
        # A header name that is not UTF-8 must not stall the partition: the record goes
        # on without headers (with producer authentication on, it is then unsigned).
        # confluent-kafka 2.x raises it as a SystemError wrapping the decode error
        # (found by tests/integration/test_producer_auth.py under this client).
        return ()
    if not hdrs:
        return ()
    return tuple((k, v if v is not None else b"") for k, v in hdrs)


class CkConsumer:
    """A read_committed group consumer that never commits on its own (librdkafka)."""

    def __init__(self, settings: Settings, group_id: str, **conf: Any) -> None:
        base: dict[str, Any] = {
            **librdkafka_config(settings),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
        }
        base.update(conf)
        self._c = Consumer(base)
        self._topics: list[str] = []
        self._listener: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tps: dict[tuple[str, int], TopicPartition] = {}
        #: Group metadata (member id, generation) at the latest fetch (KIP-447).
        self.group_metadata: Any = None
        self._closed = False
        #: One librdkafka call at a time on this consumer's threads (fetch vs close).
        self._busy = threading.Lock()
        #: Its own (daemon) threads: a fetch blocked in a rebalance listener (which may
        #: itself wait on worker threads) never starves asyncio's shared default executor.
        self._calls = DaemonCalls("sluice-ck-consumer")

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None:
        """Subscribe at :meth:`start`; ``listener``: an aiokafka ConsumerRebalanceListener."""
        self._topics = list(topics)
        self._listener = listener

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._c.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _tp(self, topic: str, partition: int) -> TopicPartition:
        tp = self._tps.get((topic, partition))
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        return tp

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        # On the fetch thread: run the stage's listener on its loop and wait for it.
        assert self._loop is not None  # noqa: S101
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            fut.result(_LISTENER_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            # The loop is gone (shutdown) or stuck: do not hang the fetch thread forever.
            fut.cancel()
            log.error("rebalance listener did not finish; continuing")

    def _on_assign(self, _c: Any, parts: list[Any]) -> None:
        if self._listener is not None:
            tps = {self._tp(p.topic, p.partition) for p in parts}
            self._call(self._listener.on_partitions_assigned(tps))

    def _on_revoke(self, _c: Any, parts: list[Any]) -> None:
        if self._listener is not None:
            tps = {self._tp(p.topic, p.partition) for p in parts}
            self._call(self._listener.on_partitions_revoked(tps))

    def _fetch(self, max_records: int, timeout_s: float) -> tuple[list[Any], Any]:
        with self._busy:
            if self._closed:
                return [], None
            return self._fetch_locked(max_records, timeout_s)

    def _fetch_locked(self, max_records: int, timeout_s: float) -> tuple[list[Any], Any]:
        # As aiokafka's getmany: what is fetched already, else wait for the first record
        # only (``consume(n, timeout)`` would wait out the timeout for n records).
        msgs = self._c.consume(max_records, 0)
        if not msgs:
            first = self._c.poll(timeout_s)
            if first is not None:
                msgs = [first]
                if max_records > 1:
                    msgs.extend(self._c.consume(max_records - 1, 0))
        return msgs, self._c.consumer_group_metadata()

    async def getmany(
        self, *, timeout_ms: int = 0, max_records: int = 500
    ) -> dict[TopicPartition, list[CkRecord]]:
        """Up to ``max_records`` records, by partition (rebalance callbacks run meanwhile)."""
        try:
            # Unbounded: poll honours its timeout; the rebalance callbacks in it are
            # bounded (_LISTENER_TIMEOUT_S each).
            msgs, meta = await self._calls.run(None, self._fetch, max_records, timeout_ms / 1000)
        except KafkaException as exc:
            raise translate(exc) from None
        self.group_metadata = meta
        out: dict[TopicPartition, list[CkRecord]] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != CkError._PARTITION_EOF:  # noqa: SLF001
                    log.warning("fetch error", extra={"error": err.name()})
                continue
            ts_type, ts = m.timestamp()
            tp = self._tp(m.topic(), m.partition())
            rec = CkRecord(
                tp.topic,
                tp.partition,
                m.offset(),
                ts,
                _AIO_LOG_APPEND_TIME if ts_type == TIMESTAMP_LOG_APPEND_TIME else 0,
                m.key(),
                m.value(),
                _headers(m),
            )
            recs = out.get(tp)
            if recs is None:
                out[tp] = [rec]
            else:
                recs.append(rec)
        return out

    def assignment(self) -> set[TopicPartition]:
        return {self._tp(p.topic, p.partition) for p in self._c.assignment()}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        try:
            self._c.seek(CkTP(tp.topic, tp.partition, offset))
        except KafkaException as exc:
            raise translate(exc) from None

    async def position(self, tp: TopicPartition) -> int:
        """The next offset to fetch; the committed one before the first fetch (else 0)."""
        pos = self._c.position([CkTP(tp.topic, tp.partition)])[0].offset
        if pos >= 0:
            return int(pos)
        committed = await self._calls.run(
            _CALL_TIMEOUT_S + _GRACE_S,
            self._c.committed,
            [CkTP(tp.topic, tp.partition)],
            _CALL_TIMEOUT_S,
        )
        return max(int(committed[0].offset), 0)

    def highwater(self, tp: TopicPartition) -> int | None:
        try:
            _lo, hi = self._c.get_watermark_offsets(CkTP(tp.topic, tp.partition), cached=True)
        except KafkaException:
            return None
        return int(hi) if hi >= 0 else None

    async def stop(self) -> None:
        """Leave the group (revoke callbacks run) and close."""
        if self._closed:
            return
        try:
            # After a fetch in hand (_busy); bounded, so a close that hangs in librdkafka
            # does not keep a stopping worker from exiting.
            await self._calls.run(_CALL_TIMEOUT_S, self._close)
        finally:
            self._calls.close()

    def _close(self) -> None:
        with self._busy:  # after a fetch still running on another thread
            if not self._closed:
                self._closed = True
                self._c.close()


class CkProducer:
    """An idempotent acks=all transactional producer (librdkafka).

    ``group_metadata`` returns the consumer's group metadata of the batch in hand: the
    offsets go into the transaction with it (KIP-447).
    """

    def __init__(self, settings: Settings, group_metadata: Callable[[], Any], **conf: Any) -> None:
        base: dict[str, Any] = {
            **librdkafka_config(settings),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 1024 * 1024,
            "message.max.bytes": 16 * 1024 * 1024,
            "compression.type": "none",
            "request.timeout.ms": 30000,
            # Keys to partitions as the Java client and aiokafka do (the gate co-partitions
            # held events with decisions from other producers by event id).
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 1_000_000,
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
        }
        base.update(conf)
        self._timeout_s = float(base.get("transaction.timeout.ms", 60000)) / 1000
        self._p = Producer(base)
        self._group_metadata = group_metadata
        self._failed: list[str] = []
        self._partitions: dict[str, set[int]] = {}
        #: Its own daemon threads for blocking calls (transaction requests, flush): with
        #: the broker away each may block for the transaction timeout, or for good; an
        #: abandoned call must neither take a thread the rest of the worker needs nor
        #: keep the process from exiting.
        self._calls = DaemonCalls("sluice-ck-producer")
        #: A call did not return within its bound: librdkafka still runs it, so every
        #: later transactional call would conflict with it. The stage replaces this
        #: producer (same transactional id: the new one fences it).
        self.stuck: str | None = None

    def _on_delivery(self, err: CkError | None, _msg: Any) -> None:
        if err is not None:
            self._failed.append(err.name())

    async def _run(self, timeout_s: float, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (a call with its own ``timeout_s``), awaited ``_GRACE_S`` longer.

        Raises:
            CallStuck: this call, or an earlier one, did not return in time.
        """
        if self.stuck is not None:
            raise CallStuck(self.stuck)
        try:
            return await self._calls.run(timeout_s + _GRACE_S, fn, *args)
        except CallStuck:
            self.stuck = getattr(fn, "__name__", "call")
            log.error(
                "librdkafka call did not return; abandoning this producer",
                extra={"call": self.stuck, "after_s": timeout_s + _GRACE_S},
            )
            raise
        except KafkaException as exc:
            raise translate(exc) from None

    async def start(self) -> None:
        """Register the transactional id: fences (and aborts) a predecessor's transaction."""
        await self._run(_CALL_TIMEOUT_S, self._p.init_transactions, _CALL_TIMEOUT_S)

    async def stop(self) -> None:
        """Hand over what is queued (bounded), then let the client go."""
        if self._calls.closed:
            return
        try:
            if self.stuck is None:
                await self._calls.run(5.0 + _GRACE_S, self._p.flush, 5.0)
        finally:
            self._calls.close()

    async def begin_transaction(self) -> None:
        if self.stuck is not None:
            raise CallStuck(self.stuck)
        self._failed.clear()
        try:
            self._p.begin_transaction()
        except KafkaException as exc:
            raise translate(exc) from None

    async def send_offsets_to_transaction(
        self, offsets: dict[TopicPartition, tuple[int, str]], group_id: str
    ) -> None:
        """Commit ``offsets`` (with their metadata) in the transaction, as the group member
        that fetched the batch. ``group_id`` is implied by the metadata."""
        meta = self._group_metadata()
        if meta is None:
            raise StaleGroupMetadata("no group metadata yet")
        tps = [CkTP(tp.topic, tp.partition, off, metadata=md) for tp, (off, md) in offsets.items()]
        await self._run(
            _CALL_TIMEOUT_S, self._p.send_offsets_to_transaction, tps, meta, _CALL_TIMEOUT_S
        )

    async def commit_transaction(self) -> None:
        await self._run(self._timeout_s, self._p.commit_transaction, self._timeout_s)

    async def abort_transaction(self) -> None:
        await self._run(self._timeout_s, self._p.abort_transaction, self._timeout_s)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int,
        headers: list[tuple[str, str | bytes | None]] | None,
    ) -> None:
        """Queue one record (raises BufferError when the local queue is full)."""
        self._p.produce(topic, value, key, partition, headers=headers)

    def take_failures(self) -> list[str]:
        failed, self._failed = self._failed, []
        return failed

    async def flush(self, timeout_s: float) -> int:
        """Wait for acknowledgements; the number of records still unacknowledged."""
        return int(await self._run(timeout_s, self._p.flush, timeout_s))

    async def poll(self, timeout_s: float) -> None:
        await self._run(timeout_s, self._p.poll, timeout_s)

    async def refresh_metadata(self) -> None:
        md = await self._run(_CALL_TIMEOUT_S, self._p.list_topics, None, _CALL_TIMEOUT_S)
        self._partitions = {
            name: set(t.partitions) for name, t in md.topics.items() if t.error is None
        }

    def known_partitions(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)
