"""Reading a topic or partition to its current end, without a consumer group.

For tools and checks that must see what is committed now (``audit verify``, ``trace``,
the gate's state restore): read_committed, from the beginning (or given offsets) up to
the end offsets seen at the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Iterable, Sequence

from aiokafka import ConsumerRecord, TopicPartition

from sluice.errors import ConfigError, SluiceError
from sluice.kafka.clients import make_admin, make_consumer, refresh_metadata
from sluice.settings import Settings

__all__ = [
    "KafkaReadError",
    "OnProgress",
    "TopicNotFound",
    "follow_topic",
    "has_records",
    "read_key_values",
    "read_partition",
    "read_topic",
    "topic_partitions",
]

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
    partitions: Collection[int] | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield every committed record of ``topic`` from the beginning to the end offsets
    seen at the start (no consumer group; read_committed). Partition by partition order
    is preserved; partitions are interleaved. ``partitions``: only those (None: all).

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
        tps = [
            TopicPartition(topic, p) for p in sorted(parts) if partitions is None or p in partitions
        ]
        if not tps:
            return
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


#: (key, value) of one record.
KeyValue = tuple[bytes | None, bytes | None]


class KafkaReadError(SluiceError):
    """Kafka could not be read (one line naming the topic and the cluster)."""


#: ``on_progress(k)``: k more records were read (for a progress display).
OnProgress = Callable[[int], None]


async def _key_values(
    settings: Settings, topic: str, timeout_s: float, on_progress: OnProgress | None
) -> list[KeyValue]:
    from aiokafka.errors import KafkaError

    out: list[KeyValue] = []
    try:
        async for rec in read_topic(settings, topic, timeout_s=timeout_s):
            out.append((rec.key, rec.value))
            if on_progress is not None and not len(out) % 1000:
                on_progress(1000)
        if on_progress is not None:
            on_progress(len(out) % 1000)
        return out
    except KafkaError as exc:
        raise KafkaReadError(
            f"cannot read {topic} from Kafka at {settings.bootstrap_servers} ({type(exc).__name__})"
        ) from None


async def read_key_values(
    settings: Settings,
    topics: Sequence[str],
    *,
    timeout_s: float = 30.0,
    on_progress: OnProgress | None = None,
) -> dict[str, list[KeyValue]]:
    """topic → every committed (key, value) from the beginning to the end offsets seen at
    the start, in partition order; the topics are read concurrently.

    Raises:
        KafkaReadError: a Kafka client error while reading one of them.
    """
    results = await asyncio.gather(
        *(_key_values(settings, t, timeout_s, on_progress) for t in topics)
    )
    return dict(zip(topics, results, strict=True))


async def topic_partitions(settings: Settings, topics: Iterable[str]) -> dict[str, list[int]]:
    """topic → its partition ids; topics that do not exist (or fail to describe) are left out."""
    wanted = set(topics)
    out: dict[str, list[int]] = {}
    admin = make_admin(settings)
    try:
        await admin.start()
        for meta in await admin.describe_topics(sorted(wanted)):
            if meta.get("error_code", 0) != 0:
                continue
            name = meta.get("topic", "")
            if name in wanted:
                out[name] = [p["partition"] for p in meta.get("partitions", ())]
    finally:
        await admin.close()
    return out


async def has_records(settings: Settings, topic: str, partitions: Iterable[int]) -> bool:
    """Whether any of ``topic``'s ``partitions`` was ever written (an end offset > 0)."""
    tps = [TopicPartition(topic, p) for p in partitions]
    if not tps:
        return False
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return any(v > 0 for v in ends.values())


async def follow_topic(
    settings: Settings, topic: str, *, from_beginning: bool, idle_s: float | None
) -> AsyncGenerator[ConsumerRecord[bytes, bytes], None]:
    """Yield committed records of every partition of ``topic`` as they arrive (no group).

    Starts at the oldest record with ``from_beginning``, else at the end (only new ones);
    stops after ``idle_s`` seconds without a record (None: never). Close the iterator
    (``contextlib.aclosing``) when stopping early, so the consumer is stopped.

    Raises:
        ConfigError: the topic does not exist.
    """
    consumer = make_consumer(
        settings, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await refresh_metadata(consumer)  # a fresh topic
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise ConfigError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                if idle_s is not None and loop.time() - last > idle_s:
                    return
                continue
            last = loop.time()
            for recs in batch.values():
                for rec in recs:
                    yield rec
    finally:
        await consumer.stop()
