"""Reading the review queue from the gate's compacted state (what ``review list`` uses).

:func:`load_snapshot` reads ``workflow.gate.state`` whole (compacted: one entry per
event id still in the table) and, on top, the records the gate has not consumed yet:
``workflow.approvals`` and ``workflow.decisions`` from the gate group's committed
offsets (committed in the same transaction as the changelog, so the two agree). Its
cost follows the open table, not the length of the topics' history. The folding is
pure: :mod:`sluice.gate.snapshot`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sluice.gate.snapshot import GateSnapshot
    from sluice.kafka.reads import KeyValue
    from sluice.settings import Settings

__all__ = ["load_snapshot"]

log = logging.getLogger(__name__)


async def _committed(settings: Settings, topics: list[str]) -> dict[str, dict[int, int]]:
    """topic → partition → the gate group's committed offset (partitions without one
    are absent)."""
    from aiokafka import TopicPartition

    from sluice.kafka.clients import make_admin
    from sluice.kafka.reads import topic_partitions

    parts = await topic_partitions(settings, topics)
    tps = [TopicPartition(t, p) for t in topics for p in parts.get(t, [])]
    if not tps:
        return {}
    admin = make_admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.gate_group_id, partitions=tps)
    finally:
        await admin.close()
    out: dict[str, dict[int, int]] = {}
    for tp, meta in offsets.items():
        offset = getattr(meta, "offset", -1)
        if offset is not None and offset >= 0:
            out.setdefault(tp.topic, {})[tp.partition] = offset
    return out


async def load_snapshot(
    settings: Settings,
    *,
    timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[GateSnapshot | None, bool]:
    """(snapshot, partial). None when there is no gate state to read (the topic is
    missing, or the gate group never committed on ``workflow.approvals``): the caller
    reads the topics instead. ``partial``: a read made no progress for ``timeout_s``
    before reaching the end offsets seen at its start (the snapshot has what was read).

    Raises:
        KafkaReadError: a Kafka client error.
    """
    from aiokafka.errors import KafkaError

    from sluice.gate.snapshot import snapshot_state
    from sluice.kafka import TopicNotFound, read_topic
    from sluice.kafka.reads import KafkaReadError
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    try:
        committed = await _committed(settings, [topics.approvals, topics.decisions])
    except KafkaError as exc:
        raise KafkaReadError(
            f"cannot read the gate group's offsets at {settings.bootstrap_servers} "
            f"({type(exc).__name__})"
        ) from None
    if not committed.get(topics.approvals):
        return None, False
    partial = False

    async def read(topic: str, start: dict[int, int] | None) -> list[KeyValue]:
        nonlocal partial
        out: list[KeyValue] = []
        try:
            async for rec in read_topic(
                settings, topic, timeout_s=timeout_s, strict=True, from_offsets=start
            ):
                out.append((rec.key, rec.value))
                if on_progress is not None and not len(out) % 1000:
                    on_progress(1000)
        except TimeoutError:
            partial = True
            log.warning("gate state read stopped at timeout", extra={"topic": topic})
        except TopicNotFound:
            if topic == topics.gate_state:
                raise
        except KafkaError as exc:
            raise KafkaReadError(
                f"cannot read {topic} from Kafka at {settings.bootstrap_servers} "
                f"({type(exc).__name__})"
            ) from None
        if on_progress is not None:
            on_progress(len(out) % 1000)
        return out

    try:
        changelog, held_tail, votes_tail = await asyncio.gather(
            read(topics.gate_state, None),
            read(topics.approvals, committed.get(topics.approvals, {})),
            read(topics.decisions, committed.get(topics.decisions, {})),
        )
    except TopicNotFound:
        return None, False
    return snapshot_state(changelog, held_tail, votes_tail), partial
