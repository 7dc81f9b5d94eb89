"""``sluice trace EVENT_ID``: one event's lifecycle across the sluice topics."""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def trace(
    event_id: str = typer.Argument(..., help="The event's event_id (UUID)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    run_id: str | None = typer.Option(
        None,
        "--run-id",
        help="The event's run_id (its key on workflow.events): narrows the audit and DLQ "
        "topics to the partitions it maps to (default: the run_id found in the event's "
        "held/outcome records; without one those two topics are read whole).",
    ),
    all_partitions: bool = typer.Option(
        False,
        "--all-partitions",
        help="Read every partition of every topic (after a topic's partition count "
        "changed, older records lie outside the partitions the keys map to now).",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Seconds without progress before giving up."
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Print an event's whole lifecycle in time order, with the time between stages.

    Reads only the partitions the event's keys map to (the event id; the run id for
    the audit and DLQ topics), as the producers' default partitioner placed them.
    A progress line goes to stderr when it is a terminal (not with --json).

    Exit 1 when no record of the event is found.
    """
    import asyncio

    import orjson

    from sluice.audit.topic import collect_trace
    from sluice.audit.trace import build_timeline, format_timeline
    from sluice.cli.progress import progress
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    with progress(f"tracing {event_id}", json_out=json_out) as on_progress:
        entries = asyncio.run(
            collect_trace(
                settings,
                event_id,
                run_id=run_id,
                all_partitions=all_partitions,
                timeout_s=timeout,
                on_progress=on_progress,
            )
        )
    timeline = build_timeline(entries)
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
