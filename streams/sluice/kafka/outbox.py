"""The transactional outbox: records of one Kafka transaction, and the producer's upkeep.

A stage appends every output and audit record of a batch to an :class:`Outbox`, which
builds one record batch per topic-partition and checks that the broker acknowledged
each of them before the transaction may commit (:meth:`Outbox.delivered`). A producer
stuck on batches the broker keeps refusing is closed with :func:`close_producer`, and
restarted after the delays of :func:`restart_delays` (``sluice.agents.base`` explains
why both are bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

__all__ = [
    "RESTART_FIRST_S",
    "RESTART_MAX_S",
    "DeliveryFailed",
    "Outbox",
    "close_producer",
    "restart_delays",
]

log = logging.getLogger(__name__)

#: Producer restart backoff: first delay, cap (seconds).
RESTART_FIRST_S = 0.25
RESTART_MAX_S = 4.0


def restart_delays() -> Iterator[float]:
    """Delays before each producer restart attempt: doubling from
    :data:`RESTART_FIRST_S`, capped at :data:`RESTART_MAX_S` (a broker that comes back is
    used within seconds, however long it was away)."""
    delay = RESTART_FIRST_S
    while True:
        yield delay
        delay = min(delay * 2, RESTART_MAX_S)


async def close_producer(producer: Any, timeout_s: float) -> None:
    """Stop ``producer`` without waiting on batches the broker keeps refusing.

    aiokafka's ``stop()`` flushes first, and a transactional producer retries a
    retriable produce error forever: after ``timeout_s`` its sender is cancelled and its
    pending batches failed, so the stop completes and the connections close.
    """
    stop = asyncio.ensure_future(producer.stop())
    try:
        await asyncio.wait_for(asyncio.shield(stop), timeout_s)
        return
    except TimeoutError:
        log.warning("producer stop did not finish; abandoning its pending batches")
    except Exception:
        log.debug("producer stop failed", exc_info=True)
        return
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None:
        task.cancel()
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:
        with contextlib.suppress(Exception):
            accumulator.fail_all(KafkaError("producer abandoned after a broker fault"))
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(stop, timeout_s)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class DeliveryFailed(Exception):
    """A batch of the open transaction was refused for good; the transaction must abort."""


class Outbox:
    """The records of one transaction, appended to one BatchBuilder per topic-partition.

    Cheaper than ``producer.send`` per record (no per-record future, serializer or
    accumulator round trip); batches go out when full and on :meth:`flush`.
    """

    def __init__(self, producer: Any, partitions: dict[str, list[int]]) -> None:
        self._producer = producer
        self._partitions = partitions
        self._builders: dict[tuple[str, int], Any] = {}
        self._partitioner = DefaultPartitioner()
        #: Delivery futures of the batches handed to the producer (see :meth:`delivered`).
        self._deliveries: list[Any] = []

    async def add(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one record (partition by key like the Java client when not given), with
        ``headers`` (``(name, value)`` pairs; none by default)."""
        # A list: aiokafka's C record builder refuses any other sequence (TypeError).
        hdrs = headers if type(headers) is list else list(headers or ())
        if partition is None:
            parts = self._partitions.get(topic)
            if parts is None:
                parts = sorted(await self._producer.partitions_for(topic))
                self._partitions[topic] = parts
            partition = self._partitioner(key, parts, parts)
        tp = (topic, partition)
        builder = self._builders.get(tp)
        if builder is None:
            builder = self._builders[tp] = self._producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value, headers=hdrs) is None:
            self._deliveries.append(
                await self._producer.send_batch(builder, topic, partition=partition)
            )
            builder = self._builders[tp] = self._producer.create_batch()
            if builder.append(timestamp=None, key=key, value=value, headers=hdrs) is None:
                raise ValueError("record larger than the producer's max batch size")

    async def flush(self) -> None:
        """Hand every open batch to the producer."""
        builders, self._builders = self._builders, {}
        for (topic, partition), builder in builders.items():
            if builder.record_count():
                self._deliveries.append(
                    await self._producer.send_batch(builder, topic, partition=partition)
                )

    async def delivered(self, timeout_s: float | None = None) -> None:
        """Wait until the broker acknowledged every batch of this transaction.

        Args:
            timeout_s: give up after this long (the transaction timeout: the broker
                aborts the transaction by then anyway).

        Raises:
            DeliveryFailed: a batch failed (its cause: e.g. MessageSizeTooLargeError) or
                was not acknowledged in time (cause: TimeoutError).
        """
        # aiokafka does not put a transaction into an error state when one of its
        # batches fails for good (a non-retriable error such as MessageSizeTooLarge, or
        # a batch expired while its partition had no leader): commit_transaction would
        # then commit the input offsets without those records - events lost (found by
        # tests/reliability/test_backpressure.py). So every batch is checked first.
        futures, self._deliveries = self._deliveries, []
        if not futures:
            return
        # asyncio.wait, not gather: a timeout must not cancel the producer's futures.
        done, pending = await asyncio.wait(futures, timeout=timeout_s)
        for f in done:
            exc = f.exception()
            if exc is not None:
                raise DeliveryFailed(type(exc).__name__) from exc
        if pending:
            for f in pending:  # failed later when the producer is abandoned: not an error
                f.add_done_callback(_retrieve)
            raise DeliveryFailed("TimeoutError") from TimeoutError(
                f"{len(pending)} batch(es) not acknowledged within {timeout_s}s"
            )
