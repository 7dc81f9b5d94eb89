"""Kafka plumbing shared by workers and tools: clients from settings, topic creation, reads.

The only module (with the agents) that talks to aiokafka directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from sluice.errors import ConfigError
from sluice.kafka_records import install as _install_tolerant_records
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = [
    "TopicNotFound",
    "TopicReport",
    "create_topics",
    "delete_topics_with_prefix",
    "describe_topic_configs",
    "make_producer",
    "read_partition",
    "read_topic",
]

log = logging.getLogger(__name__)

# A record whose header name is not UTF-8 must not stall a partition (sluice.kafka_records).
_install_tolerant_records()


class TopicNotFound(ConfigError):
    """A topic a tool was asked to read does not exist."""


def make_producer(settings: Settings, **kw: Any) -> AIOKafkaProducer:
    """An idempotent acks=all producer (pass ``transactional_id`` for transactions)."""
    opts: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "max_request_size": 16 * 1024 * 1024,
        "compression_type": None,
        "request_timeout_ms": 30000,
    }
    opts.update(kw)
    return AIOKafkaProducer(**settings.kafka_kwargs(), **opts)


@dataclass(frozen=True, slots=True)
class TopicReport:
    """What ``create_topics`` did for one topic."""

    name: str
    status: str  # "created" | "exists"
    partitions: int
    #: The topic's settings as the broker describes them (empty if it did not answer).
    configs: Mapping[str, str] = field(default_factory=dict)


async def create_topics(
    settings: Settings,
    topics: Topics | None = None,
    *,
    partitions: int | None = None,
    names: Iterable[str] | None = None,
) -> list[TopicReport]:
    """Create the SPEC topics idempotently with their settings; report each one."""
    topics = topics or Topics.with_prefix(settings.topic_prefix)
    n = partitions or settings.partitions
    configs = topics.configs()
    wanted = list(names) if names is not None else list(configs)
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        reports: list[TopicReport] = []
        new = [
            NewTopic(name, n, settings.replication_factor, topic_configs=configs.get(name, {}))
            for name in wanted
            if name not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        described = await admin.describe_topics(wanted)
        # A topic just created may be described before its partitions are: wait (bounded)
        # until every new topic shows them, so callers never read a count of 0.
        created = {t.name for t in new}
        for _ in range(50):
            if not any(d["topic"] in created and not d["partitions"] for d in described):
                break
            await asyncio.sleep(0.1)
            described = await admin.describe_topics(wanted)
        configs_now = await describe_topic_configs(admin, wanted)
        for d in described:
            name = d["topic"]
            reports.append(
                TopicReport(
                    name,
                    "exists" if name in existing else "created",
                    len(d["partitions"]),
                    configs_now.get(name, {}),
                )
            )
        return reports
    finally:
        await admin.close()


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, names: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Topic → its settings (name → value) as the broker reports them.

    Topics the broker reports an error for are left out; values it hides
    (sensitive settings) are left out too.
    """
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if error_code:
                log.warning(
                    "describe_configs failed for a topic",
                    extra={"topic": name, "error_code": error_code},
                )
                continue
            out[name] = {str(entry[0]): str(entry[1]) for entry in entries if entry[1] is not None}
    return out


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
    consumer = AIOKafkaConsumer(
        **settings.kafka_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        await consumer.start()  # inside try: a failed start must still close the client
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
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
    consumer = AIOKafkaConsumer(
        **settings.kafka_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
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


async def delete_topics_with_prefix(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (bench clean-up); returns them."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()
