"""An event's lifecycle across topics, in time order with the time between stages. Pure.

The I/O (reading the topics) is in ``sluice.audit.topic``; this module decides which
records belong to an event, what each says (ids, codes, verdicts, never event text),
and how the timeline reads, and which partitions can hold them
(:func:`trace_partitions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from sluice.audit.export import iso_ms
from sluice.models.records import RecordName

__all__ = [
    "KEYED_ROLES",
    "TraceEntry",
    "build_timeline",
    "format_timeline",
    "key_partition",
    "summarize",
    "trace_partitions",
]

#: Fields shown per record type: identifiers and codes only (no content, no preview).
#: An allow-list on purpose: a field added to a schema stays hidden until named here.
#: ``tests/unit/test_records.py`` checks every name against the schemas.
_SHOWN: dict[str, tuple[str, ...]] = {
    RecordName.AUDIT_RECORD: (
        "stage",
        "transition",
        "outcome",
        "kind",
        "actor_id",
        "reviewer_id",
        "decision_id",
        "reason_code",
        "rule",
        "policy_hash",
        "content_hash",
        "detectors",
        "source",
        "chain",
        "seq",
        "original_content_hash",
        "amended_fields",
    ),
    RecordName.HELD_EVENT: (
        "rule",
        "roles",
        "approvals",
        "on_expiry",
        "expires_at",
        "actor_id",
        "content_hash",
        "risk_score",
    ),
    RecordName.DECISION: (
        "decision_id",
        "verdict",
        "reviewer_id",
        "key_id",
        "content_hash",
        "amended_hash",
    ),
    RecordName.OUTCOME: (
        "outcome",
        "source",
        "rule",
        "reviewers",
        "content_hash",
        "original_content_hash",
        "amended_fields",
    ),
    RecordName.DEAD_LETTER: (
        "error_code",
        "detail",
        "source_topic",
        "source_partition",
        "source_offset",
        "payload_sha256",
    ),
}

#: The field that says when the record's step happened.
_TIME_FIELD: dict[str, str] = {
    RecordName.AUDIT_RECORD: "at",
    RecordName.HELD_EVENT: "held_at",
    RecordName.DECISION: "decided_at",
    RecordName.OUTCOME: "decided_at",
    RecordName.DEAD_LETTER: "failed_at",
}


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One record of the event's lifecycle."""

    #: When the step happened (ms since the epoch).
    at_ms: int
    #: Topic role: audit, approvals, decisions, approved, rejected, dlq.
    role: str
    topic: str
    partition: int
    offset: int
    #: Avro record name.
    record_type: str
    #: Short label (e.g. ``intake/received``, ``decision APPROVE``).
    label: str
    #: Safe summary fields.
    fields: dict[str, Any]


def _label(record_type: str, record: Mapping[str, Any]) -> str:
    if record_type == "AuditRecord":
        label = f"{record.get('stage')}/{record.get('transition')}"
        outcome = record.get("outcome")
        return f"{label} {outcome}" if outcome else label
    if record_type == "HeldEvent":
        return f"held for {record.get('approvals')} approval(s)"
    if record_type == "Decision":
        amended = " amended" if record.get("amended_hash") else ""
        return f"decision {record.get('verdict')}{amended} by {record.get('reviewer_id')}"
    if record_type == "Outcome":
        return f"outcome {record.get('outcome')} ({record.get('source')})"
    if record_type == "DeadLetter":
        return f"dead letter {record.get('error_code')}"
    return record_type


def summarize(
    record_type: str,
    record: Mapping[str, Any],
    *,
    role: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
) -> TraceEntry:
    """A :class:`TraceEntry` for a decoded record (``timestamp_ms``: Kafka's, the fallback)."""
    at = record.get(_TIME_FIELD.get(record_type, ""))
    fields = {
        k: record[k]
        for k in _SHOWN.get(record_type, ())
        if k in record and record[k] not in (None, [], "")
    }
    return TraceEntry(
        at_ms=at if type(at) is int else timestamp_ms,
        role=role,
        topic=topic,
        partition=partition,
        offset=offset,
        record_type=record_type,
        label=_label(record_type, record),
        fields=fields,
    )


#: Tie-break for records with the same timestamp: lifecycle order.
_ROLE_ORDER = {"audit": 0, "approvals": 1, "decisions": 2, "dlq": 3, "approved": 4, "rejected": 4}


def build_timeline(entries: Iterable[TraceEntry]) -> list[dict[str, Any]]:
    """Entries in time order, each a JSON-ready dict with ``delta_ms`` (since the
    previous entry) and ``elapsed_ms`` (since the first)."""

    def key(e: TraceEntry) -> tuple[int, int, int, str, int, int]:
        seq = e.fields.get("seq") if e.record_type == "AuditRecord" else None
        return (
            e.at_ms,
            _ROLE_ORDER.get(e.role, 9),
            seq if isinstance(seq, int) else 0,
            e.topic,
            e.partition,
            e.offset,
        )

    out: list[dict[str, Any]] = []
    first = prev = None
    for e in sorted(entries, key=key):
        first = e.at_ms if first is None else first
        out.append(
            {
                "at": iso_ms(e.at_ms),
                "at_ms": e.at_ms,
                "elapsed_ms": e.at_ms - first,
                "delta_ms": 0 if prev is None else e.at_ms - prev,
                "role": e.role,
                "topic": e.topic,
                "partition": e.partition,
                "offset": e.offset,
                "type": e.record_type,
                "label": e.label,
                "fields": e.fields,
            }
        )
        prev = e.at_ms
    return out


def _fmt_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


#: Fields left out of the text lines (hashes are shown shortened for amendments only).
_HIDDEN = frozenset(
    {
        "chain",
        "seq",
        "policy_hash",
        "content_hash",
        "original_content_hash",
        "amended_fields",
        "amended_hash",
    }
)


def format_timeline(event_id: str, timeline: list[dict[str, Any]]) -> str:
    """Human-readable lines for ``sluice trace``."""
    lines = [f"event {event_id}: {len(timeline)} record(s)"]
    for item in timeline:
        delta = f"+{item['delta_ms']}ms"
        where = f"{item['topic']}[{item['partition']}]@{item['offset']}"
        fields = item["fields"]
        detail = " ".join(f"{k}={_fmt_value(v)}" for k, v in fields.items() if k not in _HIDDEN)
        if "original_content_hash" in fields:  # approved with amendments: show the change
            detail += (
                f" amended={_fmt_value(fields.get('amended_fields', []))} "
                f"hash={str(fields['original_content_hash'])[:12]}"
                f"->{str(fields.get('content_hash', ''))[:12]}"
            )
        elif "amended_hash" in fields:
            detail += f" amended_hash={str(fields['amended_hash'])[:12]}"
        detail = detail.strip()
        lines.append(f"{item['at']}  {delta:>10}  {item['label']:<34} {where}  {detail}".rstrip())
    if timeline:
        lines.append(f"total {timeline[-1]['elapsed_ms']}ms")
    return "\n".join(lines)


#: Roles whose records are keyed by the event id (partitioned by it, default partitioner).
KEYED_ROLES = ("approvals", "decisions", "approved", "rejected")


def key_partition(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner (and aiokafka's, and the
    gate's outbox) picks for ``key`` among ``partitions``: murmur2, sign bit cleared."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def trace_partitions(
    counts: Mapping[str, int],
    event_id: str,
    run_id: str | None,
) -> dict[str, set[int] | None]:
    """role → the partitions that can hold records about the event (None: all of them).

    ``counts`` is role → partition count of its topic (``events`` included: the
    intake's source). Records keyed by the event id are in ``key_partition(event_id)``.
    Audit records go to their chain's source partition modulo the audit partitions:
    the gate's chain is the event's approvals (and decisions) partition, the intake's
    the events partition of its key, the run id (the event id's own partition is read
    too). The DLQ is keyed by the source key, the run id. Without a run id the audit
    and DLQ topics are read whole; so is a topic missing from ``counts``.
    """
    ev = event_id.encode()
    out: dict[str, set[int] | None] = {}
    for role in KEYED_ROLES:
        n = counts.get(role)
        out[role] = {key_partition(ev, n)} if n else None
    audit_n, events_n = counts.get("audit"), counts.get("events")
    gate_ns = (counts.get("approvals"), counts.get("decisions"))
    dlq_n = counts.get("dlq")
    if run_id is None or not (audit_n and events_n and all(gate_ns)):
        out["audit"] = None
    else:
        # The gate chains a decision on the partition it came from: approvals and
        # decisions are co-partitioned by the event id (both counted, should they differ).
        # And the event id's own partition, where a writer using the default
        # partitioner (an older sluice, a tool) put its records.
        out["audit"] = {
            key_partition(run_id.encode(), events_n) % audit_n,
            key_partition(ev, audit_n),
        } | {key_partition(ev, n) % audit_n for n in gate_ns if n}
    out["dlq"] = {key_partition(run_id.encode(), dlq_n)} if run_id is not None and dlq_n else None
    return out
