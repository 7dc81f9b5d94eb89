"""Reading a deployment's audit trail from Kafka: verify, export, trace one event.

The chain checks are :class:`~sluice.audit.verify.Verifier`'s (pure); :func:`run_verify`
feeds it from the topic and adds what only a running deployment knows: the heads its
writers committed (read before and after the topic) and the chains its source topics
allow. :func:`export_topic` and :func:`collect_trace` read for ``audit export`` and
``trace``; the record shapes are :mod:`sluice.audit.export`'s and
:mod:`sluice.audit.trace`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sluice.audit.report import AFTER_HEAD, NO_COMMITTED_HEAD

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from sluice.audit.chain import ChainHead
    from sluice.audit.report import VerifyReport
    from sluice.audit.trace import TraceEntry
    from sluice.settings import Settings

__all__ = [
    "HeadsReader",
    "collect_trace",
    "expected_chains",
    "export_topic",
    "run_verify",
]

#: Reads chain → head the writers committed (their consumer groups' offset metadata).
HeadsReader = Callable[["Settings"], Awaitable[dict[str, "ChainHead"]]]

#: Seconds to wait before re-reading the writers' heads when a record seemed to lie
#: beyond them (the group commit and the topic's transaction marker become visible at
#: very slightly different moments).
_RECHECK_S = 1.0


async def expected_chains(settings: Settings) -> set[str]:
    """Every chain id a sluice writer can own: ``intake:<p>`` for each partition of
    ``workflow.events`` and ``gate:<p>`` for each partition of ``workflow.approvals``.

    A source topic that does not exist contributes nothing (no writer could chain it).
    """
    from sluice.kafka.reads import topic_partitions
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    stages = {topics.events: "intake", topics.approvals: "gate"}
    partitions = await topic_partitions(settings, stages)
    return {f"{stages[t]}:{p}" for t, parts in partitions.items() for p in parts}


async def run_verify(
    settings: Settings,
    topic: str,
    *,
    public_keys: dict[str, Ed25519PublicKey],
    anchors: dict[str, ChainHead],
    committed_heads: HeadsReader | None,
    timeout_s: float,
    max_unsigned: int | None = None,
) -> tuple[VerifyReport, dict[str, ChainHead]]:
    """Read ``topic`` to its end and verify it.

    With ``committed_heads`` (for the deployment's own audit topic), the writers'
    committed heads are read before the topic (as anchors: truncation, rewritten tail)
    and after it (as complete bounds: a forged tail, or a chain no writer committed),
    and only chains of existing source partitions may appear. With public keys, every
    chain must carry signed checkpoints, at most ``max_unsigned`` records apart.

    Returns:
        The report and the committed heads used as anchors.
    """
    from sluice.audit.verify import Verifier
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import read_topic

    anchors = dict(anchors)
    before: dict[str, ChainHead] = {}
    allowed: set[str] | None = None
    if committed_heads is not None:
        before = await committed_heads(settings)
        for chain, head in before.items():
            if chain not in anchors or head.seq > anchors[chain].seq:
                anchors[chain] = head
        allowed = await expected_chains(settings)
    verifier = Verifier(
        public_keys,
        anchors=anchors,
        chains=allowed,
        max_unsigned=max_unsigned if max_unsigned is not None else settings.checkpoint_every,
    )
    codec = default_codec()
    async for rec in read_topic(settings, topic, timeout_s=timeout_s, strict=True):
        if rec.value is None:
            verifier.add_malformed(rec.partition, rec.offset, "a record without a value")
            continue
        try:
            name, record = codec.decode_any(rec.value)
        except DecodeError as exc:
            verifier.add_malformed(rec.partition, rec.offset, f"undecodable ({exc.code})")
            continue
        if name != "AuditRecord":
            verifier.add_malformed(rec.partition, rec.offset, f"a {name}, not an AuditRecord")
            continue
        verifier.add(rec.partition, rec.offset, record)
    if committed_heads is None:
        return verifier.finish(), before
    report = verifier.finish(await committed_heads(settings), complete_bounds=True)
    if any(b.what in (AFTER_HEAD, NO_COMMITTED_HEAD) for b in report.breaks):
        await asyncio.sleep(_RECHECK_S)
        report = verifier.finish(await committed_heads(settings), complete_bounds=True)
    return report, before


async def export_topic(
    settings: Settings,
    topic: str,
    write: Callable[[dict[str, Any]], None],
    *,
    since_ms: int = 0,
    timeout_s: float = 30.0,
) -> tuple[int, int]:
    """Pass every AuditRecord of ``topic`` with ``at`` ≥ ``since_ms`` to ``write``, as
    :func:`~sluice.audit.export.export_record` shapes it.

    Returns:
        (records written, records skipped because they are not AuditRecords).
    """
    from sluice.audit.export import export_record
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import read_topic

    codec = default_codec()
    written = skipped = 0
    async for rec in read_topic(settings, topic, timeout_s=timeout_s, strict=True):
        try:
            name, record = codec.decode_any(rec.value or b"")
        except DecodeError:
            skipped += 1
            continue
        if name != "AuditRecord":
            skipped += 1
            continue
        if record.get("at", 0) < since_ms:
            continue
        write(export_record(record, partition=rec.partition, offset=rec.offset))
        written += 1
    return written, skipped


async def collect_trace(
    settings: Settings, event_id: str, *, timeout_s: float = 30.0
) -> list[TraceEntry]:
    """Every record about ``event_id`` in audit, approvals, decisions, approved,
    rejected and DLQ (topics that do not exist are skipped).

    Records keyed by the event id match by key; DLQ records by their ``event_id`` field
    (their key is the source record's); undecodable records are skipped.
    """
    from sluice.audit.trace import summarize
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import TopicNotFound, read_topic
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    codec = default_codec()
    key = event_id.encode()
    roles = (
        ("audit", topics.audit),
        ("approvals", topics.approvals),
        ("decisions", topics.decisions),
        ("approved", topics.approved),
        ("rejected", topics.rejected),
        ("dlq", topics.dlq),
    )
    found: list[TraceEntry] = []
    for role, topic in roles:
        try:
            async for rec in read_topic(settings, topic, timeout_s=timeout_s, strict=True):
                if rec.value is None or (role != "dlq" and rec.key != key):
                    continue
                try:
                    name, record = codec.decode_any(rec.value)
                except DecodeError:
                    continue
                if record.get("event_id") != event_id:
                    continue
                found.append(
                    summarize(
                        name,
                        record,
                        role=role,
                        topic=topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        timestamp_ms=rec.timestamp,
                    )
                )
        except TopicNotFound:
            continue
    return found
