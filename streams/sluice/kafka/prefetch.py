"""Keep a fetch in flight while a stage works on the batch in hand (aiokafka stages).

aiokafka sends a broker its next fetch only once every record of the previous fetch
from it has been taken by ``getmany``. A stage takes a batch, then spends a transaction
on it (several round trips: tens of ms on a loaded machine); the fetch in flight
meanwhile returns the first record that arrives, and the records arriving after it stay
on the broker until the stage takes that one, at the start of the *next* batch. At a
steady 100 events/s most records so waited for two transactions, not one
(docs/performance.md, "Prefetch"). :class:`Prefetcher` keeps calling ``getmany`` into a
local buffer, so the next fetch is always in flight and a record waits at most for the
transaction in hand.

Exactly-once is unchanged: the buffer is memory only, and what commits is still the
offsets of the batches handed out. The consumer's position is past the buffered
records, so:

- :meth:`Prefetcher.pause` stops the task (a cancelled ``getmany`` drains nothing) and
  returns the first buffered offset per partition: on an abort the stage seeks back to
  them, on a rebalance they are dropped or sought back (see ``Stage``);
- :meth:`Prefetcher.first_offset`: what a transaction may commit for a partition none of
  whose records are in its batch (the first buffered one, not the position).

The task stops fetching once ``max_records`` wait in the buffer, and when the stage has
not taken a batch for ``stall_s`` (a stuck stage must not look alive to its group).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.errors import KafkaError

__all__ = ["Prefetcher", "fetch_failed", "stage_prefetcher", "unbuffer"]

log = logging.getLogger(__name__)

Batch = dict[Any, list[Any]]


class Prefetcher:
    """A background ``getmany`` loop over ``consumer`` feeding :meth:`next_batch`."""

    def __init__(
        self,
        consumer: Any,
        *,
        timeout_ms: int,
        max_records: int,
        stall_s: float,
        name: str = "stage",
    ) -> None:
        self._consumer = consumer
        self._timeout_ms = timeout_ms
        self._max = max_records
        self._stall_s = stall_s
        self._name = name
        self._chunks: list[Batch] = []
        self._count = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._taken_at = time.monotonic()

    @property
    def buffered(self) -> int:
        """Records fetched and not yet handed out."""
        return self._count

    def first_offset(self, tp: Any) -> int | None:
        """The first buffered offset of ``tp``; None if none of its records is buffered."""
        for chunk in self._chunks:
            recs = chunk.get(tp)
            if recs:
                return int(recs[0].offset)
        return None

    async def next_batch(self) -> Batch:
        """What is buffered (at most ``max_records``, whole fetches, in fetch order), or
        what arrives within ``timeout_ms``; ``{}`` if nothing does.

        Raises what the fetch loop raised (other than a ``KafkaError``, retried there).
        """
        self._taken_at = time.monotonic()
        self._room.set()
        self._ensure_running()
        if not self._chunks:
            self._ready.clear()
            task = self._task
            assert task is not None  # noqa: S101 - _ensure_running
            waiter = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait(
                    [waiter, task],
                    timeout=self._timeout_ms / 1000,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
            self._ensure_running()  # re-raises the loop's error, if it died
        batch: Batch = {}
        taken = 0
        while self._chunks:
            n = sum(len(r) for r in self._chunks[0].values())
            if taken and taken + n > self._max:
                break
            for tp, recs in self._chunks.pop(0).items():
                batch.setdefault(tp, []).extend(recs)
            taken += n
        self._count -= taken
        self._taken_at = time.monotonic()
        self._room.set()
        return batch

    async def pause(self) -> dict[Any, int]:
        """Stop fetching and empty the buffer; return its first offset per partition.

        The next :meth:`next_batch` fetches again.
        """
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])  # not ``await task``: our own cancel must not be eaten
        firsts: dict[Any, int] = {}
        for chunk in self._chunks:
            for tp, recs in chunk.items():
                if recs:
                    firsts.setdefault(tp, int(recs[0].offset))
        self._chunks = []
        self._count = 0
        self._ready.clear()
        return firsts

    def _ensure_running(self) -> None:
        task = self._task
        if task is not None and task.done():
            self._task = None
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"prefetch-{self._name}")

    async def _loop(self) -> None:
        while True:
            if self._count >= self._max or time.monotonic() - self._taken_at > self._stall_s:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                got = await self._consumer.getmany(
                    timeout_ms=self._timeout_ms, max_records=self._max - self._count
                )
            except KafkaError as exc:
                await fetch_failed(self._name, exc)
                continue
            # No await between the drain in getmany and this append: a cancel of this
            # task never loses drained records.
            chunk = {tp: recs for tp, recs in got.items() if recs}
            if chunk:
                self._chunks.append(chunk)
                self._count += sum(len(r) for r in chunk.values())
                self._ready.set()


async def fetch_failed(stage: str, exc: KafkaError) -> None:
    """A stage's fetch raised a Kafka error: log it and wait a second before the retry
    (the stage loop's and the prefetch task's shared handling)."""
    log.warning("fetch failed; retrying", extra={"stage": stage, "error": type(exc).__name__})
    await asyncio.sleep(1.0)


def stage_prefetcher(
    consumer: Any, *, enabled: bool, timeout_ms: int, max_records: int, stall_s: float, name: str
) -> Prefetcher | None:
    """A :class:`Prefetcher` for an aiokafka stage consumer; None when ``enabled`` is off
    or the consumer is not aiokafka's (librdkafka keeps its own fetch queue)."""
    from aiokafka import AIOKafkaConsumer

    if not enabled or not isinstance(consumer, AIOKafkaConsumer):
        return None
    return Prefetcher(
        consumer, timeout_ms=timeout_ms, max_records=max_records, stall_s=stall_s, name=name
    )


async def unbuffer(prefetch: Prefetcher | None, consumer: Any) -> None:
    """Empty ``prefetch``'s buffer; its assigned partitions are read again from there."""
    if prefetch is None or consumer is None:
        return
    firsts = await prefetch.pause()
    assignment = consumer.assignment()
    for tp, offset in firsts.items():
        if tp in assignment:
            consumer.seek(tp, offset)
