"""A stage's transport: its group consumer, transactional producer and outbox.

One batch is one transaction either way: fetch a batch (``getmany``), begin, queue the
output and audit records (an outbox), send the input offsets into the transaction,
check delivery, commit or abort. ``SLUICE_KAFKA_CLIENT`` picks the client library:

- ``aiokafka`` (default): asyncio clients (:mod:`sluice.kafka.clients`, :class:`Outbox`).
- ``confluent``: librdkafka (:mod:`sluice.kafka.confluent`); network work in C threads,
  and KIP-447 fencing of a stale group member's commit (docs/performance.md,
  docs/guarantees.md).

Tools, the Emitter and read-to-end helpers stay on aiokafka.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from sluice.kafka.clients import make_consumer, make_producer
from sluice.kafka.outbox import Outbox
from sluice.settings import Settings

__all__ = [
    "KafkaClient",
    "StageOutbox",
    "client_of",
    "new_outbox",
    "stage_consumer",
    "stage_producer",
]

KafkaClient = Literal["aiokafka", "confluent"]


class StageOutbox(Protocol):
    """The records of one transaction (:class:`Outbox`, or ``confluent_outbox.CkOutbox``)."""

    async def add(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None: ...

    async def flush(self) -> None: ...

    async def delivered(self, timeout_s: float | None = None) -> None: ...


def client_of(settings: Settings) -> KafkaClient:
    """The client library of the stages (``SLUICE_KAFKA_CLIENT``)."""
    return settings.kafka_client


def stage_consumer(settings: Settings, group_id: str, *, assignor: Any = None, **aio: Any) -> Any:
    """A stage's group consumer: read_committed, no auto-commit, range assignment.

    ``aio``: aiokafka options; the librdkafka consumer gets their equivalents.
    """
    if client_of(settings) == "confluent":
        from sluice.kafka.confluent import CkConsumer

        return CkConsumer(
            settings,
            group_id,
            **{
                "max.partition.fetch.bytes": aio["max_partition_fetch_bytes"],
                "fetch.max.bytes": aio["fetch_max_bytes"],
                "session.timeout.ms": aio["session_timeout_ms"],
                "heartbeat.interval.ms": aio["heartbeat_interval_ms"],
                "max.poll.interval.ms": aio["max_poll_interval_ms"],
                "fetch.wait.max.ms": aio["fetch_max_wait_ms"],
            },
        )
    kw = dict(aio)
    if assignor is not None:
        kw["partition_assignment_strategy"] = (assignor,)
    return make_consumer(settings, group_id=group_id, auto_offset_reset="earliest", **kw)


def stage_producer(
    settings: Settings,
    transactional_id: str,
    group_metadata: Callable[[], Any],
) -> Any:
    """A stage's transactional producer (not started).

    ``group_metadata``: the consumer's group metadata of the batch in hand (used by the
    librdkafka producer only: KIP-447).
    """
    if client_of(settings) == "confluent":
        from sluice.kafka.confluent import CkProducer

        return CkProducer(
            settings,
            group_metadata,
            **{
                "transactional.id": transactional_id,
                "transaction.timeout.ms": settings.transaction_timeout_ms,
                "linger.ms": settings.stage_linger_ms,
                "retry.backoff.ms": settings.stage_retry_backoff_ms,
            },
        )
    return make_producer(
        settings,
        transactional_id=transactional_id,
        transaction_timeout_ms=settings.transaction_timeout_ms,
        linger_ms=settings.stage_linger_ms,
        retry_backoff_ms=settings.stage_retry_backoff_ms,
    )


def new_outbox(producer: Any, partitions: dict[str, list[int]]) -> StageOutbox:
    """An empty outbox for one transaction of ``producer``."""
    ck = sys.modules.get("sluice.kafka.confluent")  # not imported: not a librdkafka producer
    if ck is not None and isinstance(producer, ck.CkProducer):
        from sluice.kafka.confluent_outbox import CkOutbox

        return CkOutbox(producer, partitions)
    return Outbox(producer, partitions)
