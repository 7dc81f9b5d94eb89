"""An event's lifecycle across topics, in time order with the time between stages. Pure.

The I/O (reading the topics) is in ``sluice.cli.trace``; this module decides which
records belong to an event, what each says (ids, codes, verdicts, never event text),
and how the timeline reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sluice.audit.export import iso_ms
from sluice.models.records import RecordName

__all__ = ["TraceEntry", "build_timeline", "format_timeline", "summarize"]

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
    RecordName.DECISION: ("decision_id", "verdict", "reviewer_id", "key_id", "content_hash"),
    RecordName.OUTCOME: ("outcome", "source", "rule", "reviewers", "content_hash"),
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
        return f"decision {record.get('verdict')} by {record.get('reviewer_id')}"
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


def format_timeline(event_id: str, timeline: list[dict[str, Any]]) -> str:
    """Human-readable lines for ``sluice trace``."""
    lines = [f"event {event_id}: {len(timeline)} record(s)"]
    for item in timeline:
        delta = f"+{item['delta_ms']}ms"
        where = f"{item['topic']}[{item['partition']}]@{item['offset']}"
        detail = " ".join(
            f"{k}={_fmt_value(v)}"
            for k, v in item["fields"].items()
            if k not in ("chain", "seq", "policy_hash", "content_hash")
        )
        lines.append(f"{item['at']}  {delta:>10}  {item['label']:<34} {where}  {detail}".rstrip())
    if timeline:
        lines.append(f"total {timeline[-1]['elapsed_ms']}ms")
    return "\n".join(lines)
