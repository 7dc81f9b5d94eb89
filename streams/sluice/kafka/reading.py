"""Reads for tools: whole topics to their end, a followed topic, topic partitions.

The command line and the audit verification read Kafka through these (and
``read_topic``); they never build consumers or admin clients themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import TYPE_CHECKING

from sluice.errors import ConfigError, SluiceError

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

    from sluice.settings import Settings

__all__ = ["KafkaReadError", "follow_topic", "read_key_values", "topic_partitions"]

#: (key, value) of one record.
KeyValue = tuple[bytes | None, bytes | None]


class KafkaReadError(SluiceError):
    """Kafka could not be read (one line naming the topic and the cluster)."""


async def _key_values(settings: Settings, topic: str, timeout_s: float) -> list[KeyValue]:
    from aiokafka.errors import KafkaError

    from sluice.kafka_io import read_topic

    try:
        return [
            (rec.key, rec.value) async for rec in read_topic(settings, topic, timeout_s=timeout_s)
        ]
    except KafkaError as exc:
        raise KafkaReadError(
            f"cannot read {topic} from Kafka at {settings.bootstrap_servers} ({type(exc).__name__})"
        ) from None


async def read_key_values(
    settings: Settings, topics: Sequence[str], *, timeout_s: float = 30.0
) -> dict[str, list[KeyValue]]:
    """topic → every committed (key, value) from the beginning to the end offsets seen at
    the start, in partition order; the topics are read concurrently.

    Raises:
        KafkaReadError: a Kafka client error while reading one of them.
    """
    results = await asyncio.gather(*(_key_values(settings, t, timeout_s) for t in topics))
    return dict(zip(topics, results, strict=True))


async def topic_partitions(settings: Settings, topics: Iterable[str]) -> dict[str, list[int]]:
    """topic → its partition ids; topics that do not exist (or fail to describe) are left out."""
    from aiokafka.admin import AIOKafkaAdminClient

    wanted = set(topics)
    out: dict[str, list[int]] = {}
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
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
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **settings.kafka_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh topic
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
