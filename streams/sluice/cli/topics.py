"""``sluice topics create``: the SPEC topics, idempotently."""

from __future__ import annotations

import typer

__all__ = ["register"]

topics_app = typer.Typer(help="Manage sluice's Kafka topics.", no_args_is_help=True)


@topics_app.command("create")
def create(
    partitions: int = typer.Option(
        None, "--partitions", min=1, help="Partitions per topic (default $SLUICE_PARTITIONS or 4)."
    ),
    bootstrap_servers: str = typer.Option(
        None, "--bootstrap-servers", help="Kafka bootstrap servers."
    ),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per topic."),
) -> None:
    """Create every sluice topic that does not exist yet; report what was created or found."""
    import asyncio

    import orjson

    from sluice.kafka_io import create_topics
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    reports = asyncio.run(create_topics(settings, partitions=partitions))
    for r in reports:
        if json_out:
            typer.echo(
                orjson.dumps(
                    {"topic": r.name, "status": r.status, "partitions": r.partitions}
                ).decode()
            )
        else:
            typer.echo(f"{r.status:8} {r.name} ({r.partitions} partitions)")


def register(app: typer.Typer) -> None:
    """Add the ``topics`` group."""
    app.add_typer(topics_app, name="topics")
