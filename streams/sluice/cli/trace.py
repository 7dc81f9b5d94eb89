"""``sluice trace EVENT_ID``: one event's lifecycle across the sluice topics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sluice.audit.trace import TraceEntry
    from sluice.settings import Settings

__all__ = ["collect", "register"]


async def collect(
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


def trace(
    event_id: str = typer.Argument(..., help="The event's event_id (UUID)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Seconds without progress before giving up."
    ),
    bootstrap_servers: str = typer.Option(
        None, "--bootstrap-servers", help="Kafka bootstrap servers."
    ),
) -> None:
    """Print an event's whole lifecycle in time order, with the time between stages.

    Exit 1 when no record of the event is found.
    """
    import asyncio

    import orjson

    from sluice.audit.trace import build_timeline, format_timeline
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    timeline = build_timeline(asyncio.run(collect(settings, event_id, timeout_s=timeout)))
    if json_out:
        typer.echo(
            orjson.dumps(
                {"event_id": event_id, "found": bool(timeline), "timeline": timeline}
            ).decode()
        )
    elif timeline:
        typer.echo(format_timeline(event_id, timeline))
    else:
        typer.echo(f"event {event_id}: no records found", err=True)
    raise typer.Exit(0 if timeline else 1)


def register(app: typer.Typer) -> None:
    """Add the ``trace`` command."""
    app.command("trace")(trace)
