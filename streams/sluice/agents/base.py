"""What both stages share: a consumer group, a transactional producer, audit chains.

Every batch is one Kafka transaction: output records, audit records and the input
offsets (with each audit chain's head in the offset metadata) commit together or not
at all. A crash or an aborted transaction re-delivers the batch; nothing is released
twice because nothing of an aborted batch is visible to read_committed consumers.

Broker faults (docs/operating.md, "Gate stall after NotEnoughReplicas"): aiokafka's
transactional producer retries a retriable produce error such as NotEnoughReplicas
without end (its batches never expire), and both ``abort_transaction`` and ``stop``
first wait for those batches; meanwhile the broker aborts the transaction after
``transaction.timeout.ms`` and fences the producer's epoch. So every wait on the
producer here is bounded: batches not acknowledged within the transaction timeout, or
an abort or close that does not finish, end in a new producer (same transactional id)
with a short, capped backoff; and a fence is answered with a new producer too (it is
almost always that timeout), exiting only when fenced again and again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced

from sluice.audit.chain import ChainHead, ChainWriter
from sluice.codec import Codec
from sluice.http import Health
from sluice.kafka import (
    DeliveryFailed,
    Outbox,
    close_producer,
    known_partitions,
    make_admin,
    partition_heads,
    refresh_metadata,
    restart_delays,
)
from sluice.kafka.prefetch import Prefetcher, fetch_failed, stage_prefetcher, unbuffer
from sluice.kafka.transport import StageOutbox, new_outbox, stage_consumer, stage_producer
from sluice.metrics import Metrics
from sluice.settings import Settings

__all__ = ["MAX_FENCED_IN_ROW", "Stage"]

log = logging.getLogger(__name__)

#: Consecutive fences (no commit in between) after which the stage gives up: then
#: another live worker really uses this transactional id.
MAX_FENCED_IN_ROW = 5


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, stage: Stage) -> None:
        self._stage = stage

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._stage._revoked(set(revoked))  # noqa: SLF001

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._stage._assigned(set(assigned))  # noqa: SLF001


class Stage:
    """Base of the intake and gate agents.

    Subclasses set :attr:`name`, :attr:`inputs`, :attr:`chain_topic` (the input topic
    whose committed metadata carries the chain head) and implement :meth:`handle`.
    """

    name = "stage"
    #: Audit chain name prefix (chains ``<chain_name>:<p>``); None: :attr:`name`.
    chain_name: str | None = None
    #: Bound (seconds) on aborting a transaction and on closing a producer.
    abort_timeout_s = 5.0
    #: Group session and poll-interval limits of the stage's consumer.
    session_timeout_ms = 20000
    max_poll_interval_ms = 120000

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        metrics: Metrics,
        health: Health,
        *,
        group_id: str,
        inputs: list[str],
        chain_topic: str,
        audit_topic: str,
        signer: Any = None,
        assignor: Any = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.metrics = metrics
        self.health = health
        self.group_id = group_id
        self.inputs = inputs
        self.chain_topic = chain_topic
        self.audit_topic = audit_topic
        self.signer = signer
        self._assignor = assignor
        self.lock = asyncio.Lock()
        self.chains: dict[int, ChainWriter] = {}
        self.generation = 0
        self.consumer: Any = None  # AIOKafkaConsumer or CkConsumer (sluice.kafka.transport)
        self.producer: Any = None
        self._admin: AIOKafkaAdminClient | None = None
        self._stopping = asyncio.Event()
        self._txn_id = f"{group_id}-{settings.worker_id}"
        self._n_audit = 0
        self._fenced_in_row = 0
        self._partitions: dict[str, list[int]] = {}
        self.out: StageOutbox = Outbox(None, self._partitions)
        self._prefetch: Prefetcher | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect clients (transactional producer first: it fences a dead predecessor)."""
        if self.consumer is not None:
            raise RuntimeError(f"{self.name} already started")
        self.health.ready[self.name] = False
        self._admin = make_admin(self.settings)
        await self._admin.start()
        await self._start_producer()
        await refresh_metadata(self.producer)
        parts = known_partitions(self.producer, self.audit_topic)
        self._n_audit = len(parts) if parts else 0
        self.consumer = stage_consumer(
            self.settings,
            self.group_id,
            assignor=self._assignor,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=3000,
            max_poll_interval_ms=self.max_poll_interval_ms,
            fetch_max_wait_ms=self.settings.stage_fetch_max_wait_ms,
        )
        self.consumer.subscribe(self.inputs, listener=_Listener(self))
        await self.consumer.start()

    async def _start_producer(self) -> None:
        self.producer = stage_producer(self.settings, self._txn_id, self._group_metadata)
        await self.producer.start()

    def _group_metadata(self) -> Any:
        # The consumer's group metadata at the fetch of the batch in hand (librdkafka).
        return getattr(self.consumer, "group_metadata", None)

    def request_stop(self) -> None:
        """Make :meth:`run` return after the batch in hand (its transaction completes)."""
        self._stopping.set()

    async def stop(self) -> None:
        """Leave the group and close clients; safe twice."""
        self._stopping.set()
        if self._prefetch is not None:
            await self._prefetch.pause()
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:  # closing anyway
                log.debug("consumer stop failed", exc_info=True)
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

    # -- rebalance ----------------------------------------------------------------

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            self.generation += 1
            if self._prefetch is not None:  # positions restart at the committed offsets
                await self._prefetch.pause()
            for tp in revoked:
                if tp.topic == self.chain_topic:
                    self.chains.pop(tp.partition, None)
            await self.on_revoked(revoked)
            self.health.ready[self.name] = False

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.lock:
            self.generation += 1
            # Fetched from the new positions before this callback: read again from there.
            await unbuffer(self._prefetch, self.consumer)
            self.metrics.rebalances.labels(self.name).inc()
            mine = sorted(tp for tp in assigned if tp.topic == self.chain_topic)
            heads = await self._committed_heads(mine)
            for tp in mine:
                self.chains[tp.partition] = ChainWriter(
                    f"{self.chain_name or self.name}:{tp.partition}",
                    heads.get(tp),
                    signer=self.signer,
                    checkpoint_every=self.settings.checkpoint_every,
                )
            await self.on_assigned(assigned)
            # Ready once caught up: an empty fetch, or lag under the limit after a batch.
            self.health.ready[self.name] = False
            log.info(
                "partitions assigned",
                extra={"stage": self.name, "partitions": [tp.partition for tp in mine]},
            )

    async def _committed_heads(
        self, tps: list[TopicPartition]
    ) -> dict[TopicPartition, ChainHead | None]:
        if not tps or self._admin is None:
            return {}
        committed = await partition_heads(self._admin, self.group_id, tps)
        return {tp: c.head for tp, c in committed.items()}

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Hook: drop state of revoked partitions."""

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Hook: load state of assigned partitions."""

    # -- processing ----------------------------------------------------------------

    async def run(self) -> None:
        """Consume until stopped."""
        assert self.consumer is not None  # noqa: S101
        self._prefetch = stage_prefetcher(
            self.consumer,
            enabled=self.settings.stage_prefetch,
            timeout_ms=self.settings.batch_timeout_ms,
            max_records=self.settings.batch_max_records,
            stall_s=self.max_poll_interval_ms / 2000,
            name=self.name,
        )
        try:
            await self._loop()
        finally:
            if self._prefetch is not None:
                await self._prefetch.pause()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self.health.beat(self.name)
            try:
                batch = await (
                    self._prefetch.next_batch()
                    if self._prefetch is not None
                    else self.consumer.getmany(
                        timeout_ms=self.settings.batch_timeout_ms,
                        max_records=self.settings.batch_max_records,
                    )
                )
            except KafkaError as exc:
                await fetch_failed(self.name, exc)
                continue
            if not batch and self.consumer.assignment():
                self.health.ready[self.name] = True  # nothing waiting: caught up
            gen = self.generation
            async with self.lock:
                if gen != self.generation:
                    # A rebalance ran between fetch and now: positions were reset to
                    # the committed offsets; this batch will be fetched again.
                    continue
                assignment = self.consumer.assignment()
                batch = {tp: recs for tp, recs in batch.items() if tp in assignment and recs}
                if batch:
                    # handle() runs the timers too. idle() must not run here: a timer-only
                    # transaction commits the consumer's position, which is already past
                    # this fetched batch, and a crash before the batch commits would skip it.
                    await self._transact(batch)
                else:
                    await self.idle()

    async def idle(self) -> None:
        """Hook run with the lock held once per loop turn (timers)."""

    async def _transact(self, batch: dict[TopicPartition, list[Any]]) -> None:
        heads = {p: c.head for p, c in self.chains.items()}
        t0 = time.perf_counter()
        try:
            await self.producer.begin_transaction()
            self.out = new_outbox(self.producer, self._partitions)
            n = await self.handle(batch)
            await self.out.flush()
            offsets: dict[TopicPartition, tuple[int, str]] = {}
            for tp, recs in batch.items():
                meta = ""
                if tp.topic == self.chain_topic and tp.partition in self.chains:
                    meta = self.chains[tp.partition].head.to_metadata()
                offsets[tp] = (recs[-1].offset + 1, meta)
            # Chains of partitions with no input in this batch (gate timers) still move:
            for p, chain in self.chains.items():
                tp = TopicPartition(self.chain_topic, p)
                if tp not in offsets and chain.head != heads.get(p):
                    pos = await self.consumer.position(tp) if self.consumer else None
                    if self._prefetch is not None:
                        # The position is past what is fetched and not yet handled.
                        first = self._prefetch.first_offset(tp)
                        pos = first if first is not None else pos
                    if pos is not None:
                        offsets[tp] = (pos, chain.head.to_metadata())
            await self.producer.send_offsets_to_transaction(offsets, self.group_id)
            # A failed batch aborts instead of committing; so does one the broker has not
            # acknowledged within the transaction timeout (it aborts the transaction then).
            await self.out.delivered(self.settings.transaction_timeout_ms / 1000)
            await self.producer.commit_transaction()
        except ProducerFenced:
            # Almost always the broker's own doing: it aborted this transaction after
            # transaction.timeout.ms (e.g. while produce requests failed with
            # NotEnoughReplicas) and bumped the epoch. A new producer continues; only a
            # fence again and again means another live worker uses this transactional id.
            self._fenced_in_row += 1
            if self._fenced_in_row >= MAX_FENCED_IN_ROW:
                log.error(
                    "producer fenced repeatedly: another worker owns this transactional id; "
                    "exiting",
                    extra={"stage": self.name, "fenced": self._fenced_in_row},
                )
                raise
            log.warning(
                "producer fenced (transaction timed out broker-side?); new producer",
                extra={"stage": self.name, "fenced": self._fenced_in_row},
            )
            self.metrics.transactions_aborted.labels(self.name).inc()
            await self._abort(batch, heads, new_producer=True)
            return
        except Exception as exc:
            failed = isinstance(exc, DeliveryFailed)
            log.warning(
                "transaction failed; redoing batch",
                extra={
                    "stage": self.name,
                    "error": type(exc.__cause__ if failed else exc).__name__,
                },
            )
            self.metrics.transactions_aborted.labels(self.name).inc()
            await self._abort(batch, heads, new_producer=failed)
            return
        self._fenced_in_row = 0
        self.after_commit(batch, n, time.perf_counter() - t0)

    async def _abort(
        self,
        batch: dict[TopicPartition, list[Any]],
        heads: dict[int, ChainHead],
        *,
        new_producer: bool = False,
    ) -> None:
        for p, head in heads.items():
            if p in self.chains:
                self.chains[p].rollback(head)
        await self._rollback_state_retrying()
        if not new_producer:
            try:
                # Bounded: aiokafka's abort first waits for every pending batch, and it
                # retries a refused one (NotEnoughReplicas) for as long as it is refused.
                await asyncio.wait_for(self.producer.abort_transaction(), self.abort_timeout_s)
            except Exception as exc:
                # The producer is in a state it cannot abort from: start a new one with
                # the same transactional id (that aborts the open transaction broker-side).
                log.warning(
                    "abort failed; restarting producer",
                    extra={"stage": self.name, "error": type(exc).__name__},
                )
                new_producer = True
        # After a batch failed for good (``new_producer``), aiokafka's idempotent
        # sequence numbers for its partition are ahead of the broker's: every later
        # batch there would fail with OutOfOrderSequenceNumber. A new producer (same
        # transactional id, new epoch) starts the sequences afresh.
        if new_producer:
            # No abort first: the new producer's InitProducerId aborts the open
            # transaction broker-side (and an abort would wait on refused batches).
            await close_producer(self.producer, self.abort_timeout_s)
            # The broker may be down right now: keep trying rather than die, with a
            # capped backoff so a recovered broker is used within seconds.
            for delay in restart_delays():
                if self._stopping.is_set():
                    break
                await asyncio.sleep(delay)
                try:
                    await self._start_producer()
                    break
                except Exception as exc:
                    log.warning(
                        "producer restart failed; retrying",
                        extra={"stage": self.name, "error": type(exc).__name__},
                    )
        if self.consumer is not None:
            await unbuffer(self._prefetch, self.consumer)  # fetched after the batch: again
            assignment = self.consumer.assignment()
            for tp, recs in batch.items():
                if tp in assignment:
                    self.consumer.seek(tp, recs[0].offset)
        await asyncio.sleep(0.5)

    async def _rollback_state_retrying(self) -> None:
        """Undo in-memory state (:meth:`rollback_state`), retrying while Kafka is away.

        A stage's rollback may re-read its changelog (the gate does); when the broker is
        down, that read fails, and the stage must wait for the broker rather than die
        with half-restored state.
        """
        delays = restart_delays()
        while True:
            try:
                await self.rollback_state()
                return
            except Exception as exc:
                if self._stopping.is_set():
                    raise
                log.warning(
                    "state rollback failed; retrying",
                    extra={"stage": self.name, "error": type(exc).__name__},
                )
                await asyncio.sleep(next(delays))

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        """Process a batch inside the open transaction; return records handled."""
        raise NotImplementedError

    async def rollback_state(self) -> None:
        """Hook: undo in-memory state changed by an aborted batch."""

    def after_commit(self, batch: dict[TopicPartition, list[Any]], n: int, seconds: float) -> None:
        """Hook: count what was committed."""

    async def send_audit(self, partition: int, key: bytes | None, fields: dict[str, Any]) -> None:
        """Chain ``fields`` on this partition's audit chain and produce the record(s)."""
        chain = self.chains.get(partition)
        if chain is None:
            return
        for rec in chain.append_fields(fields):
            await self.out.add(
                self.audit_topic,
                self.codec.encode("AuditRecord", rec),
                key=key,
                partition=partition % self._audit_partitions(),
            )
        self.metrics.audit_records.labels(self.name).inc()

    def _audit_partitions(self) -> int:
        n = self._n_audit
        if n:
            return n
        parts = known_partitions(self.producer, self.audit_topic)
        if parts:
            self._n_audit = len(parts)
            return self._n_audit
        return 1
