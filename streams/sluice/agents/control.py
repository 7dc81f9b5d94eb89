"""Audit records that no input record causes (a registry reload), written on a stage's chain.

A stage's audit chain head is committed with its input offsets, in the same Kafka
transaction as the records (``sluice.agents.base``). A control record therefore needs a
transaction of its own that re-commits an input offset of the chain's partition with
the new head. The offset committed is the group's last committed one, never the
consumer's position: the stage may hold a fetched batch it has not processed yet, and
committing past it would skip those records after a crash. The committed offset is
only used once its metadata shows the head the stage holds in memory, i.e. once the
stage's last transaction is visible to offset reads (commit markers are written after
the commit returns).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ProducerFenced

from sluice.agents.base import Stage
from sluice.audit.chain import ChainHead
from sluice.kafka import Committed, partition_heads
from sluice.kafka.transport import new_outbox

__all__ = ["append_control_audit"]

log = logging.getLogger(__name__)

_STABLE_TRIES = 50
_STABLE_WAIT_S = 0.1


async def append_control_audit(
    stage: Stage, admin: AIOKafkaAdminClient, fields: dict[str, Any]
) -> bool:
    """Chain ``fields`` on the stage's lowest owned chain and commit it in one transaction.

    The caller holds ``stage.lock`` (no batch transaction runs meanwhile).

    Returns:
        True once committed; False when the stage owns no chain yet, the committed
        head did not settle, or the transaction failed (the chain is rolled back; the
        caller tries again later). Never raises except on cancellation.
    """
    if not stage.chains or stage.producer is None or stage.consumer is None:
        return False
    partition = min(stage.chains)
    chain = stage.chains[partition]
    head = chain.head
    tp = TopicPartition(stage.chain_topic, partition)
    try:
        offset = await _settled_offset(admin, stage.group_id, tp, head)
    except Exception as exc:
        log.warning(
            "control audit: cannot read committed offsets",
            extra={"stage": stage.name, "error": type(exc).__name__},
        )
        return False
    if offset is None:
        return False
    producer = stage.producer
    try:
        await producer.begin_transaction()
        stage.out = new_outbox(producer, {})
        await stage.send_audit(partition, None, fields)
        await stage.out.flush()
        await producer.send_offsets_to_transaction(
            {tp: (offset, chain.head.to_metadata())}, stage.group_id
        )
        await stage.out.delivered()
        await producer.commit_transaction()
    except Exception as exc:
        chain.rollback(head)
        log.warning(
            "control audit: transaction failed; will retry",
            extra={"stage": stage.name, "error": type(exc).__name__},
        )
        if not isinstance(exc, ProducerFenced):
            try:
                await producer.abort_transaction()
            except Exception:
                # The next batch transaction finds the producer unusable and renews it.
                log.debug("control audit: abort failed", exc_info=True)
        return False
    return True


async def _settled_offset(
    admin: AIOKafkaAdminClient, group_id: str, tp: TopicPartition, head: ChainHead
) -> int | None:
    """The committed offset of ``tp`` once its metadata carries ``head``; None if it never does."""
    for _ in range(_STABLE_TRIES):
        committed = (await partition_heads(admin, group_id, [tp])).get(tp, Committed(-1, None))
        if (committed.head or ChainHead.genesis()) == head:
            # No commit yet (offset -1): 0 is never past an unprocessed record.
            return max(committed.offset, 0)
        await asyncio.sleep(_STABLE_WAIT_S)
    return None
