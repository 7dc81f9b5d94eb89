"""Reading a deployment's audit trail from Kafka: verify, export, trace one event.

The chain checks are :class:`~sluice.audit.verify.Verifier`'s (pure); :func:`run_verify`
feeds it from the topic and adds what only a running deployment knows: the heads its
writers committed (read before and after the topic) and the chains its source topics
allow; it also resumes at saved signed checkpoints (:mod:`sluice.audit.resume`).
:func:`export_topic` and :func:`collect_trace` read for ``audit export`` and ``trace``;
the record shapes are :mod:`sluice.audit.export`'s and :mod:`sluice.audit.trace`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.audit.report import AFTER_HEAD, NO_COMMITTED_HEAD

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from sluice.audit.chain import ChainHead
    from sluice.audit.report import VerifyReport
    from sluice.audit.resume import ResumePoint, ResumeState
    from sluice.audit.trace import TraceEntry
    from sluice.kafka.reads import OnProgress
    from sluice.settings import Settings

__all__ = [
    "HeadsReader",
    "VerifyRun",
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
#: Records between two ``on_progress`` calls of a verification (a million-record run).
_PROGRESS_EVERY = 1000


async def expected_chains(settings: Settings) -> set[str]:
    """Every chain id a sluice writer can own: ``intake:<p>`` for each partition of
    ``workflow.events`` and ``gate:<p>`` for each partition of ``workflow.approvals``.

    A source topic that does not exist contributes nothing (no writer could chain it).
    """
    from sluice.kafka.reads import topic_partitions
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    from sluice.velocity import VELOCITY_CHAIN

    stages = {
        topics.events: "intake",
        topics.approvals: "gate",
        topics.velocity_repartition: VELOCITY_CHAIN,  # velocity rules: intake after re-keying
    }
    partitions = await topic_partitions(settings, stages)
    return {f"{stages[t]}:{p}" for t, parts in partitions.items() for p in parts}


@dataclass(frozen=True, slots=True)
class VerifyRun:
    """What :func:`run_verify` found, and where a later run may resume."""

    report: VerifyReport
    #: the committed heads used as anchors (empty without ``committed_heads``).
    heads: dict[str, ChainHead]
    #: the state a later ``--since-checkpoint`` run resumes from (:mod:`sluice.audit.resume`).
    state: ResumeState
    #: records of resumed chains before their checkpoints, skipped.
    skipped: int
    #: partition → offset reading started at (empty: every partition from the beginning).
    started_at: dict[int, int]


async def run_verify(
    settings: Settings,
    topic: str,
    *,
    public_keys: dict[str, Ed25519PublicKey],
    anchors: dict[str, ChainHead],
    committed_heads: HeadsReader | None,
    timeout_s: float,
    max_unsigned: int | None = None,
    resume: ResumeState | None = None,
    points: Mapping[str, ResumePoint] | None = None,
    on_progress: OnProgress | None = None,
) -> VerifyRun:
    """Read ``topic`` to its end and verify it.

    With ``committed_heads`` (for the deployment's own audit topic), the writers'
    committed heads are read before the topic (as anchors: truncation, rewritten tail)
    and after it (as complete bounds: a forged tail, or a chain no writer committed),
    and only chains of existing source partitions may appear. With public keys, every
    chain must carry signed checkpoints, at most ``max_unsigned`` records apart.

    With ``resume`` and its re-verified checkpoints ``points``
    (:func:`~sluice.audit.resume.check_checkpoints`), chains start at those checkpoints,
    partitions at the saved offsets (never after a checkpoint in them), and each resumed
    chain must reach its saved head.
    """
    from sluice.audit.resume import CheckpointRef
    from sluice.audit.resume import ResumeState as State
    from sluice.audit.verify import Verifier
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import read_topic

    anchors = dict(anchors)
    points = points or {}
    if resume is not None:
        for chain, head in resume.heads.items():
            if chain in points and (chain not in anchors or head.seq > anchors[chain].seq):
                anchors[chain] = head
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
    starts: dict[int, int] = {}
    if resume is not None and points:
        starts = dict(resume.starts)
        for chain, pt in points.items():
            ref = pt.ref
            verifier.resume(chain, ref.seq, pt.prev_hash, ref.partition, ref.offset)
            starts[ref.partition] = min(starts.get(ref.partition, ref.offset), ref.offset)
    ends = dict(starts)  # partition → the offset after the last record read
    codec = default_codec()
    n = 0
    async for rec in read_topic(
        settings, topic, timeout_s=timeout_s, strict=True, from_offsets=starts or None
    ):
        ends[rec.partition] = rec.offset + 1
        n += 1
        if on_progress is not None and not n % _PROGRESS_EVERY:
            on_progress(_PROGRESS_EVERY)
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
    if on_progress is not None:
        on_progress(n % _PROGRESS_EVERY)
    if committed_heads is None:
        report = verifier.finish()
    else:
        report = verifier.finish(await committed_heads(settings), complete_bounds=True)
        if any(b.what in (AFTER_HEAD, NO_COMMITTED_HEAD) for b in report.breaks):
            await asyncio.sleep(_RECHECK_S)
            report = verifier.finish(await committed_heads(settings), complete_bounds=True)
    cps, cp_starts = verifier.resume_points()
    next_starts = {p: min(cp_starts.get(p, end), end) for p, end in ends.items()}
    next_starts.update({p: o for p, o in cp_starts.items() if p not in ends})
    state = State(
        topic,
        {c: CheckpointRef(*v) for c, v in cps.items()},
        {c: report.chains[c].head for c in cps if c in report.chains},
        next_starts,
    )
    return VerifyRun(report, before, state, verifier.skipped, starts)


async def export_topic(
    settings: Settings,
    topic: str,
    write: Callable[[dict[str, Any]], None],
    *,
    since_ms: int = 0,
    timeout_s: float = 30.0,
    on_progress: OnProgress | None = None,
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
        if on_progress is not None:
            on_progress(1)
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
    settings: Settings,
    event_id: str,
    *,
    run_id: str | None = None,
    all_partitions: bool = False,
    timeout_s: float = 30.0,
    on_progress: OnProgress | None = None,
) -> list[TraceEntry]:
    """Every record about ``event_id`` in audit, approvals, decisions, approved,
    rejected and DLQ (topics that do not exist are skipped).

    Records keyed by the event id match by key; DLQ records by their ``event_id`` field
    (their key is the source record's); undecodable records are skipped.

    Only the partitions that can hold the event's records are read
    (:func:`~sluice.audit.trace.trace_partitions`): the keyed topics first, whose
    records carry the run id that narrows the audit and DLQ topics; without a run id
    (given or found) those two are read whole. ``all_partitions`` reads everything
    (after a topic's partition count changed, older records lie elsewhere).
    """
    from sluice.audit.trace import KEYED_ROLES, summarize, trace_partitions
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import TopicNotFound, read_topic
    from sluice.kafka.reads import topic_partitions
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    codec = default_codec()
    key = event_id.encode()
    by_role = {
        "audit": topics.audit,
        "approvals": topics.approvals,
        "decisions": topics.decisions,
        "approved": topics.approved,
        "rejected": topics.rejected,
        "dlq": topics.dlq,
        "events": topics.events,
    }
    counts: dict[str, int] = {}
    rekeyed = False
    if not all_partitions:
        found_parts = await topic_partitions(
            settings, [*by_role.values(), topics.velocity_repartition]
        )
        counts = {r: len(found_parts[t]) for r, t in by_role.items() if found_parts.get(t)}
        # With velocity rules intake chains on the actor's repartition partition, which
        # the run id does not tell: once that topic was used, the audit topic is read whole.
        rekeyed_parts = found_parts.get(topics.velocity_repartition)
        if rekeyed_parts:
            from sluice.kafka.reads import has_records

            rekeyed = await has_records(settings, topics.velocity_repartition, rekeyed_parts)
    found: list[TraceEntry] = []
    run_ids: set[str] = set()

    async def read(role: str, parts: set[int] | None) -> None:
        topic = by_role[role]
        try:
            async for rec in read_topic(
                settings, topic, timeout_s=timeout_s, strict=True, partitions=parts
            ):
                if on_progress is not None:
                    on_progress(1)
                if rec.value is None or (role != "dlq" and rec.key != key):
                    continue
                try:
                    name, record = codec.decode_any(rec.value)
                except DecodeError:
                    continue
                if record.get("event_id") != event_id:
                    continue
                if isinstance(record.get("run_id"), str):
                    run_ids.add(record["run_id"])
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
            return

    parts = trace_partitions(counts, event_id, run_id) if not all_partitions else {}
    for role in KEYED_ROLES:
        await read(role, parts.get(role))
    if run_id is None and len(run_ids) == 1 and not all_partitions:
        parts = trace_partitions(counts, event_id, next(iter(run_ids)))
    if rekeyed:
        parts["audit"] = None
    for role in ("audit", "dlq"):
        await read(role, parts.get(role))
    return found
