"""The console's view of the review queue, followed from Kafka.

The same model as ``sluice review list`` (:mod:`sluice.gate.queue`), but kept current:
one consumer (no group, read_committed) is assigned every partition of
:func:`~sluice.gate.queue.queue_topics` from the beginning and folds each record into a
:class:`~sluice.gate.queue.QueueState` as it arrives. Nothing comes from a worker's
memory, so the console runs anywhere the topics can be read. Each change bumps
:attr:`QueueFeed.version`, which the server-sent events stream announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sluice.console.runs import RunIndex
from sluice.gate.queue import QueueState, queue_topics

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

    from sluice.settings import Settings
    from sluice.topics import Topics

__all__ = ["MAX_PENDING", "QueueFeed", "fold_record"]

log = logging.getLogger(__name__)

#: Outcomes kept waiting for their HeldEvent at most (the oldest dropped first). Most
#: Outcomes are of events never held (allowed at intake); they must not pile up.
MAX_PENDING = 100_000
#: Outcomes of a refused duplicate HeldEvent: not a step of the run.
_REFUSED_HOLD = frozenset({"duplicate_event_id", "content_hash_mismatch"})


def fold_record(
    state: QueueState,
    topics: Topics,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    pending: dict[str, list[tuple[str, str | None]]],
    runs: RunIndex | None = None,
) -> bool:
    """Fold one record into ``state`` (as :func:`~sluice.gate.queue.queue_state` does
    for a whole read). Returns whether anything changed.

    Topics are followed concurrently, so an Outcome may arrive before its HeldEvent;
    it waits in ``pending`` until the hold is seen (at most :data:`MAX_PENDING`).
    ``runs`` (when given) notes every hold and outcome as a step of its run.
    """
    from sluice.codec import default_codec
    from sluice.errors import DecodeError

    if value is None:  # a tombstone
        return False
    names = {
        topics.approvals: "HeldEvent",
        topics.approved: "Outcome",
        topics.rejected: "Outcome",
        topics.decisions: "Decision",
    }
    try:
        rec: dict[str, Any] = default_codec().decode(names[topic], value)
    except DecodeError as exc:
        state.undecodable[topic] = state.undecodable.get(topic, 0) + 1
        log.warning("skipped undecodable record", extra={"topic": topic, "code": str(exc.code)})
        return False
    if topic == topics.approvals:
        if runs is not None:
            runs.add(rec, "held")
        state.add_held(rec)
        eid = rec["event_id"]
        for outcome, reason_code in pending.pop(eid, ()):
            state.add_outcome(eid, outcome, reason_code)
        return True
    if topic == topics.decisions:
        state.add_vote(rec)
        return True
    outcome = "approved" if topic == topics.approved else "rejected"
    eid = key.decode("utf-8", "replace") if key else rec["event_id"]
    if runs is not None and rec.get("reason_code") not in _REFUSED_HOLD:
        runs.add(rec, outcome)
    if eid not in state.held:
        pending.setdefault(eid, []).append((outcome, rec.get("reason_code")))
        while len(pending) > MAX_PENDING:
            del pending[next(iter(pending))]
        return False
    state.add_outcome(eid, outcome, rec.get("reason_code"))
    return True


class QueueFeed:
    """A :class:`QueueState` kept current by following the queue topics."""

    def __init__(self, settings: Settings, topics: Topics) -> None:
        self.settings = settings
        self.topics = topics
        self.state = QueueState()
        #: The steps of each run seen (bounded): the detail page's "earlier steps".
        self.runs = RunIndex()
        #: Bumped on every change (the live updates compare it).
        self.version = 0
        #: True once the topics were read up to their ends seen at start.
        self.caught_up = False
        self._pending: dict[str, list[tuple[str, str | None]]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def apply(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Fold a batch of records; one version bump per batch that changed something."""
        changed = False
        for rec in records:
            changed |= fold_record(
                self.state, self.topics, rec.topic, rec.key, rec.value, self._pending, self.runs
            )
        if changed:
            self.version += 1
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_change(self, version: int, timeout_s: float) -> int:
        """Wait until :attr:`version` differs from ``version`` (or ``timeout_s``)."""
        if self.version == version:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout_s)
        return self.version

    def start(self) -> None:
        """Start following in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="console-queue-feed")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: keep what we have, retry
                log.warning("queue feed failed; retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(2.0)

    async def _follow(self) -> None:
        from aiokafka import TopicPartition

        from sluice.kafka.clients import make_consumer, refresh_metadata

        wanted = queue_topics(self.topics)
        consumer = make_consumer(
            self.settings,
            group_id=None,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await consumer.start()
        try:
            tps: list[TopicPartition] = []
            while not tps:
                await refresh_metadata(consumer)
                for topic in wanted:
                    parts = consumer.partitions_for_topic(topic) or ()
                    tps += [TopicPartition(topic, p) for p in sorted(parts)]
                if not tps:
                    await asyncio.sleep(2.0)  # the topics do not exist yet
            # Start over: a fresh state from the beginning of every partition.
            self.state, self._pending, self.runs = QueueState(), {}, RunIndex()
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            known = {tp.topic for tp in tps}
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=10000)
                records = [r for recs in batch.values() for r in recs]
                self.apply(records)
                if not self.caught_up:
                    positions = [await consumer.position(tp) for tp in tps]
                    if all(p >= end[tp] for p, tp in zip(positions, tps, strict=True)):
                        self.caught_up = True
                        self.version += 1
                        self._changed.set()
                        self._changed = asyncio.Event()
                if not batch and len(known) < len(wanted):
                    await refresh_metadata(consumer)
                    if any(consumer.partitions_for_topic(t) for t in set(wanted) - known):
                        return  # a topic appeared later: reassign from the start
        finally:
            await consumer.stop()
