"""Reading a topic or partition to its current end, without a consumer group.

For tools and checks that must see what is committed now (``audit verify``, ``trace``,
the gate's state restore): read_committed, from the beginning (or given offsets) up to
the end offsets seen at the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiokafka import ConsumerRecord, TopicPartition

from sluice.errors import ConfigError
from sluice.kafka.clients import make_consumer, refresh_metadata
from sluice.settings import Settings

__all__ = ["TopicNotFound", "read_partition", "read_topic"]

log = logging.getLogger(__name__)


class TopicNotFound(ConfigError):
    """A topic a tool was asked to read does not exist."""


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    timeout_s: float = 30.0,
    from_offsets: dict[int, int] | None = None,
    strict: bool = False,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield every committed record of ``topic`` from the beginning to the end offsets
    seen at the start (no consumer group; read_committed). Partition by partition order
    is preserved; partitions are interleaved.

    With ``strict`` (tools that must see everything, e.g. ``audit verify``),
    ``timeout_s`` is the longest wait without progress, and instead of stopping early
    with a warning it raises.

    Raises:
        TopicNotFound: ``strict`` and the topic does not exist.
        TimeoutError: ``strict`` and no progress for ``timeout_s``.
    """
    consumer = make_consumer(
        settings,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        await consumer.start()  # inside try: a failed start must still close the client
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await refresh_metadata(consumer)  # a topic just created
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            if strict:
                raise TopicNotFound(f"topic {topic} does not exist")
            return
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            start = (from_offsets or {}).get(tp.partition)
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        remaining = {tp for tp in tps if end[tp] > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining and loop.time() < deadline:
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset < end[tp]:
                        yield rec
            if strict and batch:
                deadline = loop.time() + timeout_s  # an idle timeout
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        if remaining:
            if strict:
                raise TimeoutError(f"reading {topic} made no progress for {timeout_s:g}s")
            log.warning("read_topic stopped at timeout", extra={"topic": topic})
    finally:
        await consumer.stop()


async def read_partition(
    settings: Settings, topic: str, partition: int, *, timeout_s: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every committed record of one partition, from the beginning to its current end."""
    consumer = make_consumer(settings, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while await consumer.position(tp) < end:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic}[{partition}] timed out")
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=10000)
            out.extend(r for r in batch.get(tp, []) if r.offset < end)
        return out
    finally:
        await consumer.stop()
