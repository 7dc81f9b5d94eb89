"""``sluice trace EVENT_ID``: one event's lifecycle across the sluice topics."""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def trace(
    event_id: str = typer.Argument(..., help="The event's event_id (UUID)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Seconds without progress before giving up."
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Print an event's whole lifecycle in time order, with the time between stages.

    Exit 1 when no record of the event is found.
    """
    import asyncio

    import orjson

    from sluice.audit.topic import collect_trace
    from sluice.audit.trace import build_timeline, format_timeline
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    timeline = build_timeline(asyncio.run(collect_trace(settings, event_id, timeout_s=timeout)))
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
