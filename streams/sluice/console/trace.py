"""The lifecycle trace and audit records of one event, and the earlier steps of its run.

The trace is what ``sluice trace`` prints: :func:`sluice.audit.topic.collect_trace`
reads only the partitions the event's keys map to, :func:`~sluice.audit.trace.build_timeline`
orders it and :func:`~sluice.audit.trace.format_timeline` writes the text, shown here
escaped in a ``<pre>``. The audit records are the timeline's ``workflow.audit`` entries
(ids, codes and transitions: the trace's allow-list, never event text). Reads are
bounded: two at a time, ``TRACE_TIMEOUT_S`` without progress each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sluice.console.render import duration, esc, page

if TYPE_CHECKING:
    from sluice.console.runs import Step
    from sluice.settings import Settings

__all__ = [
    "TRACE_TIMEOUT_S",
    "TraceReader",
    "audit_fragment",
    "run_steps",
    "trace_page",
]

log = logging.getLogger(__name__)

#: Seconds without progress before a trace read gives up.
TRACE_TIMEOUT_S = 10.0
#: Audit fields shown per record (a subset of the trace's allow-list).
_AUDIT_FIELDS = (
    "actor_id",
    "reviewer_id",
    "decision_id",
    "reason_code",
    "rule",
    "detectors",
    "source",
    "kind",
)


class TraceReader:
    """Reads an event's trace from Kafka, two reads at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._gate = asyncio.Semaphore(2)

    async def timeline(
        self, event_id: str, run_id: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """(timeline, error): the :func:`~sluice.audit.trace.build_timeline` items and
        None, or what was read before a failure and a one-line reason."""
        from sluice.audit.topic import collect_trace
        from sluice.audit.trace import build_timeline

        async with self._gate:
            error: str | None = None
            try:
                entries = await collect_trace(
                    self.settings, event_id, run_id=run_id, timeout_s=TRACE_TIMEOUT_S
                )
            except Exception as exc:  # Kafka away, a topic missing, a slow read
                log.warning("trace read failed", extra={"error": type(exc).__name__})
                entries, error = [], f"could not read the trace ({type(exc).__name__})"
        return build_timeline(entries), error


def _href(event_id: str) -> str:
    from urllib.parse import quote

    return "/event/" + quote(event_id, safe="")


def run_steps(run_id: str, steps: Sequence[Step], at_ms: int, held: Mapping[str, Any]) -> str:
    """The earlier steps of the run as a list (a link where the step was held)."""
    if not steps:
        return f'<p id="run-steps">No earlier steps of run {esc(run_id)} seen.</p>'
    items = []
    for s in steps:
        before = duration(max(at_ms - s.at_ms, 0) / 1000.0)
        kind = (
            f'<a href="{esc(_href(s.event_id))}">{esc(s.kind)}</a>'
            if s.event_id in held
            else esc(s.kind)
        )
        items.append(
            f'<li data-event-id="{esc(s.event_id)}">{kind} <span class="status">'
            f"{esc(s.status)}</span> · rule {esc(s.rule or '-')} · {esc(before)} earlier "
            f"<small>{esc(s.event_id)}</small></li>"
        )
    return f'<ol id="run-steps" class="steps">{"".join(items)}</ol>'


def audit_fragment(timeline: Sequence[Mapping[str, Any]], error: str | None) -> str:
    """The event's ``workflow.audit`` records as a table (loaded into the detail page)."""
    rows = []
    for item in timeline:
        if item["role"] != "audit":
            continue
        fields = item["fields"]
        detail = " ".join(
            f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
            for k in _AUDIT_FIELDS
            if (v := fields.get(k)) is not None
        )
        rows.append(
            f"<tr><td>{esc(item['at'])}</td><td>{esc(item['label'])}</td>"
            f"<td>{esc(fields.get('chain', ''))}#{esc(fields.get('seq', ''))}</td>"
            f"<td>{esc(detail)}</td></tr>"
        )
    note = f'<p class="warn">{esc(error)}</p>' if error else ""
    if not rows:
        return note + "<p>No audit records of this event found.</p>"
    return note + (
        '<table class="audit"><thead><tr><th>at</th><th>step</th><th>chain</th>'
        f"<th>details</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def trace_page(
    event_id: str,
    timeline: Sequence[Mapping[str, Any]],
    error: str | None,
    *,
    csrf: str,
    user: str | None,
) -> str:
    """What ``sluice trace EVENT_ID`` prints, as escaped text, and the audit records."""
    from sluice.audit.trace import format_timeline

    text = (
        format_timeline(event_id, [dict(t) for t in timeline]) if timeline else "no records found"
    )
    body = (
        f"<h1>Lifecycle trace <small>{esc(event_id)}</small></h1>"
        f'<p><a href="{esc(_href(event_id))}">back to the event</a> · the same as '
        f"<code>sluice trace {esc(event_id)}</code></p>"
        + (f'<p class="warn">{esc(error)}</p>' if error else "")
        + f'<pre class="trace" id="trace">{esc(text)}</pre>'
        + "<h2>Audit records</h2>"
        + audit_fragment(timeline, None)
    )
    return page(f"trace {event_id}", body, csrf=csrf, user=user)
