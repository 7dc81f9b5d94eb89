"""The notifier: follows the gate's changelog, delivers each transition once per sink.

Source: ``workflow.gate.state``, the gate's compacted held-events table. The gate writes
an entry in the same transaction as every transition, and each entry alone says which
transition it records (open: held; open and escalated: escalated; closed: approved or
rejected; :func:`sluice.notify.messages.transition_of`), with the roles and expiry a
notice needs. Expiry warnings come from a clock over the open entries of the assigned
partitions. The notifier reads with its own consumer group (``SLUICE_NOTIFY_GROUP_ID``)
in its own process: it never holds up the gate.

Exactly once per transition and sink: for each record, every sink that has not yet
got the transition is sent it (retried with backoff and jitter; after
``retry.attempts`` failures a DeadLetter with code ``notify_failed`` goes to the DLQ),
then the key ``<event_id>/<transition>/<sink>`` is written to the compacted
``workflow.notify.state`` and acknowledged, and only then is the offset committed. A
restart re-reads the keys and skips what was delivered. The residual window: a crash
after a sink accepted a message but before its key was acknowledged resends it once;
webhook and Slack requests carry an ``idempotency-key`` header and e-mails a stable
Message-ID so receivers can drop it. Entries the changelog compacts away before the
notifier reads them (it lags by more than ``min.compaction.lag.ms``) are notified only
in their latest state.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from sluice.codec import Codec
from sluice.errors import ErrorCode
from sluice.gate.entry import Entry
from sluice.kafka import make_consumer, make_producer, read_partition, read_topic
from sluice.metrics import Metrics
from sluice.notify.config import NotifyConfig
from sluice.notify.messages import Notice, notice_from_entry, transition_of
from sluice.notify.sinks import Sink, SinkError, backoff_delays
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Open:
    """An open hold watched for its expiry warning, and where its entry was read."""

    entry: Entry
    partition: int
    offset: int
    size: int
    digest: str


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, notifier: Notifier) -> None:
        self._n = notifier

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._n.drop_partitions({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._n.load_partitions({tp.partition for tp in assigned})


class Notifier:
    """Delivers gate transitions to ``sinks`` (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        config: NotifyConfig,
        sinks: list[Sink],
        codec: Codec,
        metrics: Metrics,
        topics: Topics | None = None,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.sinks = sinks
        self.codec = codec
        self.metrics = metrics
        self.topics = topics or Topics.with_prefix(settings.topic_prefix)
        self.warn_ms = settings.notify_expiry_warning_seconds * 1000
        #: event_id → open hold (assigned partitions only)
        self.open: dict[str, _Open] = {}
        #: "<event_id>/<transition>/<sink>" already delivered or dead-lettered
        self.done: set[str] = set()
        #: gate_state partitions whose keys and open holds are loaded
        self.loaded: set[int] = set()
        #: started by run() unless one is given (tests pass a stand-in)
        self._producer: AIOKafkaProducer | None = producer
        self._own_producer = producer is None
        self._expiry_checked_at = 0
        for s in sinks:
            for result in ("sent", "failed", "dead_letter", "duplicate"):
                metrics.notifications.labels(s.config.name, result)

    # -- state ---------------------------------------------------------------------

    async def _load_done(self) -> None:
        async for rec in read_topic(self.settings, self.topics.notify_state):
            if rec.key is None:
                continue
            key = rec.key.decode("utf-8", "replace")
            if rec.value is None:
                self.done.discard(key)
            else:
                self.done.add(key)

    async def load_partitions(self, partitions: set[int]) -> None:
        """Assigned: learn the delivered keys and the open holds of ``partitions``."""
        await self._load_done()  # another notifier may have delivered for them
        for p in partitions:
            for rec in await read_partition(self.settings, self.topics.gate_state, p):
                self._track(rec)
            self.loaded.add(p)

    def drop_partitions(self, partitions: set[int]) -> None:
        """Revoked: stop watching their holds."""
        self.loaded -= partitions
        self.open = {k: v for k, v in self.open.items() if v.partition not in partitions}

    def _track(self, rec: Any) -> Entry | None:
        if rec.key is None:
            return None
        eid = rec.key.decode("utf-8", "replace")
        if rec.value is None:
            self.open.pop(eid, None)
            return None
        try:
            entry = Entry.from_bytes(rec.value)
        except Exception:
            log.warning("undecodable gate changelog entry", extra={"offset": rec.offset})
            return None
        if entry.status == "open":
            digest = hashlib.sha256(rec.value).hexdigest()
            self.open[eid] = _Open(entry, rec.partition, rec.offset, len(rec.value), digest)
        else:
            self.open.pop(eid, None)
        return entry

    # -- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and deliver until ``stop`` is set."""
        topic = self.topics.gate_state
        consumer = make_consumer(
            self.settings,
            group_id=self.settings.notify_group_id,
            auto_offset_reset="earliest",
        )
        if self._own_producer:
            self._producer = make_producer(self.settings)
            await self._producer.start()
        producer = self._require_producer()
        try:
            await consumer.start()
            consumer.subscribe([topic], listener=_Rebalance(self))
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=100)
                for tp, records in batch.items():
                    # The fetcher can hand out records while the assignment listener is
                    # still loading the delivered keys: wait for them, or a restart
                    # would resend what it has not read yet.
                    while tp.partition not in self.loaded and tp in consumer.assignment():
                        await asyncio.sleep(0.05)
                    if tp.partition not in self.loaded:
                        continue  # revoked meanwhile: its new owner will handle it
                    for rec in records:
                        await self.on_record(rec)
                        try:
                            await consumer.commit({tp: rec.offset + 1})
                        except (CommitFailedError, IllegalStateError):
                            break  # rebalanced: the new owner re-reads, the keys dedupe
                await self.check_expiry()
        finally:
            await consumer.stop()
            if self._own_producer:
                await producer.stop()
            for s in self.sinks:
                await s.close()

    async def on_record(self, rec: Any) -> None:
        """Notify the transition one changelog record marks (if any and not stale)."""
        entry = self._track(rec)
        if entry is None:
            return
        transition = transition_of(entry)
        if transition is None:
            return
        now = int(time.time() * 1000)
        if transition in ("held", "escalated") and entry.expires_at <= now:
            return  # read too late to act on: the expiry decides it
        if transition in ("approved", "rejected") and (
            now - entry.closed_at > self.config.max_age_seconds * 1000
        ):
            return  # a decision from long ago (a new group replaying history)
        notice = notice_from_entry(entry, transition, self.codec, self.config.console_url)
        src = (rec.partition, rec.offset, len(rec.value), hashlib.sha256(rec.value).hexdigest())
        await self.deliver(notice, src)

    async def check_expiry(self) -> None:
        """Warn about open holds within the warning time of their expiry."""
        if not self.warn_ms:
            return
        now = int(time.time() * 1000)
        if now - self._expiry_checked_at < 1000:
            return  # O(open holds): once a second is precise enough for a warning
        self._expiry_checked_at = now
        for o in list(self.open.values()):
            e = o.entry
            if e.expires_at - self.warn_ms <= now < e.expires_at:
                notice = notice_from_entry(e, "expiring", self.codec, self.config.console_url)
                await self.deliver(notice, (o.partition, o.offset, o.size, o.digest))

    async def deliver(self, notice: Notice, src: tuple[int, int, int, str]) -> None:
        """Send ``notice`` to every sink that wants it and has not had it."""
        todo = []
        for s in self.sinks:
            if not s.config.wants(notice.transition, notice.roles):
                continue
            if f"{notice.key}/{s.config.name}" in self.done:
                # Sent before (a replay after a restart, or a later write of the same
                # transition, e.g. a counted vote): counted, not resent.
                self.metrics.notifications.labels(s.config.name, "duplicate").inc()
                continue
            todo.append(s)
        await asyncio.gather(*(self._deliver_one(s, notice, src) for s in todo))

    async def _deliver_one(
        self, sink: Sink, notice: Notice, src: tuple[int, int, int, str]
    ) -> None:
        name = sink.config.name
        key = f"{notice.key}/{name}"
        m = self.metrics.notifications
        delays = backoff_delays(self.config.retry)
        error = ""
        attempts = 0
        while True:
            attempts += 1
            try:
                await sink.send(notice)
            except SinkError as exc:
                error = str(exc)
                m.labels(name, "failed").inc()
                log.warning(
                    "notification failed",
                    extra={"sink": name, "event_id": notice.event_id, "error": error},
                )
                delay = next(delays, None)
                if delay is None:
                    break
                await asyncio.sleep(delay)
                continue
            await self._record(key, "sent")
            m.labels(name, "sent").inc()
            return
        await self._dead_letter(notice, name, attempts, error, src)
        await self._record(key, "dead_letter")
        m.labels(name, "dead_letter").inc()

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("Notifier.run() has not started")
        return self._producer

    async def _record(self, key: str, result: str) -> None:
        producer = self._require_producer()
        value = orjson.dumps({"result": result, "at": int(time.time() * 1000)})
        await producer.send_and_wait(self.topics.notify_state, value, key=key.encode())
        self.done.add(key)

    async def _dead_letter(
        self, notice: Notice, sink: str, attempts: int, error: str, src: tuple[int, int, int, str]
    ) -> None:
        producer = self._require_producer()
        partition, offset, size, digest = src
        dead = {
            "error_code": ErrorCode.NOTIFY_FAILED.value,
            "detail": (
                f"notification {notice.transition} to sink {sink} failed "
                f"after {attempts} attempts: {error}"
            )[:300],
            "source_topic": self.topics.gate_state,
            "source_partition": partition,
            "source_offset": offset,
            "source_timestamp": None,
            "payload_size": size,
            "payload_sha256": digest,
            "schema_fingerprint": None,
            "event_id": notice.event_id,
            "preview": None,
            "failed_at": int(time.time() * 1000),
        }
        await producer.send_and_wait(
            self.topics.dlq,
            self.codec.encode("DeadLetter", dead),
            key=notice.event_id.encode(),
        )
