"""Audit chain heads as the writers committed them: consumer-group offset metadata.

A stage commits each audit chain's head in the metadata of its input offsets, in the
same transaction as the records (``sluice.agents.base``): chain ``intake:<p>`` on
``workflow.events`` partition p of the intake group, ``gate:<p>`` on
``workflow.approvals`` partition p of the gate group. A stage reads its own partitions'
heads back when it is assigned them (:func:`partition_heads`); ``audit verify`` reads
every writer's (:func:`committed_heads`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from sluice.kafka.clients import make_admin
from sluice.settings import Settings
from sluice.topics import Topics

if TYPE_CHECKING:
    # sluice.audit loads the signing keys' crypto: not at import of sluice.kafka, which
    # producers' emitters import too.
    from sluice.audit.chain import ChainHead

__all__ = ["Committed", "committed_heads", "partition_heads"]


@dataclass(frozen=True, slots=True)
class Committed:
    """What a group committed on one partition."""

    #: The next offset to read; -1 when the group committed nothing there.
    offset: int
    #: The chain head in the commit's metadata; None without one.
    head: ChainHead | None


def _metadata(om: object) -> str | None:
    # confluent-kafka (SLUICE_KAFKA_CLIENT=confluent) commits offset metadata with the C
    # string's terminating NUL (found by tests/reliability/test_crash.py: every chain
    # restarted at genesis); one trailing NUL is not part of what the stage committed.
    meta = getattr(om, "metadata", None)
    if isinstance(meta, str) and meta.endswith("\x00"):
        return meta[:-1]
    return meta if isinstance(meta, str) else None


async def partition_heads(
    admin: AIOKafkaAdminClient, group_id: str, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, Committed]:
    """The committed offset and chain head of each of ``partitions`` in ``group_id``."""
    from sluice.audit.chain import ChainHead

    tps = list(partitions)
    if not tps:
        return {}
    offsets = await admin.list_consumer_group_offsets(group_id, partitions=tps)
    out: dict[TopicPartition, Committed] = {}
    for tp, om in offsets.items():
        offset = getattr(om, "offset", -1)
        out[tp] = Committed(
            offset if offset is not None else -1,
            ChainHead.from_metadata(_metadata(om)),
        )
    return out


async def committed_heads(settings: Settings) -> dict[str, ChainHead]:
    """chain → head its writer committed, from the consumer groups' offset metadata.

    Intake stores ``intake:<p>``'s head on ``workflow.events`` partition p of its group,
    the gate ``gate:<p>``'s on ``workflow.approvals`` partition p of the gate group,
    intake after the velocity repartition ``intake-velocity:<p>``'s on
    ``workflow.velocity.repartition`` partition p of its group. Groups or partitions
    without a head contribute nothing.
    """
    from sluice.audit.chain import ChainHead
    from sluice.velocity import VELOCITY_CHAIN, velocity_group

    topics = Topics.with_prefix(settings.topic_prefix)
    sources = (
        (settings.group_id, topics.events, "intake"),
        (settings.gate_group_id, topics.approvals, "gate"),
        (velocity_group(settings), topics.velocity_repartition, VELOCITY_CHAIN),
    )
    heads: dict[str, ChainHead] = {}
    admin = make_admin(settings)
    try:
        await admin.start()
        for group, topic, stage in sources:
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError:
                continue
            for tp, om in offsets.items():
                if tp.topic != topic:
                    continue
                head = ChainHead.from_metadata(_metadata(om))
                name = f"{stage}:{tp.partition}"
                if head is not None and (name not in heads or head.seq > heads[name].seq):
                    heads[name] = head
    finally:
        await admin.close()
    return heads
