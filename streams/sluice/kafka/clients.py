"""Kafka clients from settings, and the client internals sluice needs behind public names.

Every producer, consumer and admin client sluice opens is built here (connection
settings from :meth:`sluice.settings.Settings.kafka_kwargs`), so their defaults live in
one place. aiokafka keeps a few things sluice needs (refreshing metadata, the cluster
view of a producer) on its internal client; :func:`refresh_metadata` and
:func:`known_partitions` are the only way the rest of sluice reaches them.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from sluice.settings import Settings

__all__ = [
    "known_partitions",
    "make_admin",
    "make_consumer",
    "make_producer",
    "refresh_metadata",
]


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


def make_consumer(settings: Settings, *topics: str, **kw: Any) -> AIOKafkaConsumer:
    """A consumer that reads committed records only and never commits on its own.

    ``kw`` are aiokafka consumer options (``group_id``, fetch sizes, ...); they win over
    these defaults.
    """
    opts: dict[str, Any] = {
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
    }
    opts.update(kw)
    return AIOKafkaConsumer(*topics, **settings.kafka_kwargs(), **opts)


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    """An admin client (not started: ``await admin.start()``, ``await admin.close()``)."""
    return AIOKafkaAdminClient(**settings.kafka_kwargs())


def _client_of(client: AIOKafkaConsumer | AIOKafkaProducer) -> Any:
    # A producer exposes its network client as ``client``; a consumer only as ``_client``
    # (its ``topics()`` fetches metadata without updating the cluster view it reads).
    inner = getattr(client, "client", None)
    if inner is None:
        inner = client._client  # noqa: SLF001 - the consumer has no public refresh
    return inner


async def refresh_metadata(client: Any) -> None:
    """Fetch the cluster metadata now (a topic just created is not known until then)."""
    if hasattr(client, "refresh_metadata"):  # librdkafka (sluice.kafka.confluent)
        await client.refresh_metadata()
        return
    await _client_of(client).force_metadata_update()


def known_partitions(client: Any, topic: str) -> set[int] | None:
    """The partitions of ``topic`` in the client's metadata; None while it has none."""
    if hasattr(client, "known_partitions"):  # librdkafka (sluice.kafka.confluent)
        ck: set[int] | None = client.known_partitions(topic)
        return ck
    parts: set[int] | None = _client_of(client).cluster.partitions_for_topic(topic)
    return parts
