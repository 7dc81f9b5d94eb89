"""``sluice topics create``: the SPEC topics, idempotently."""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]

topics_app = typer.Typer(help="Manage sluice's Kafka topics.", no_args_is_help=True)


@topics_app.command("create")
def create(
    partitions: int = typer.Option(
        None, "--partitions", min=1, help="Partitions per topic (default $SLUICE_PARTITIONS or 4)."
    ),
    bootstrap_servers: BootstrapServers = None,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per topic."),
) -> None:
    """Create every sluice topic that does not exist yet; report what was created or found.

    New topics get sluice's topic settings (retention, cleanup policy, LogAppendTime on
    decisions); an existing topic is not altered: the settings where it differs are listed.
    """
    import asyncio

    import orjson

    from sluice.kafka import create_topics
    from sluice.settings import load_settings
    from sluice.topics import Topics, config_drift

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    reports = asyncio.run(create_topics(settings, partitions=partitions))
    wanted = Topics.with_prefix(settings.topic_prefix).configs()
    for r in reports:
        drift = config_drift({r.name: wanted.get(r.name, {})}, {r.name: dict(r.configs)})
        drift = drift if r.configs else []  # the broker did not describe it
        if json_out:
            obj = {"topic": r.name, "status": r.status, "partitions": r.partitions}
            obj["differs"] = [
                {"setting": d.key, "expected": d.expected, "actual": d.actual} for d in drift
            ]
            typer.echo(orjson.dumps(obj).decode())
        else:
            differs = "".join(f"; {d.key}={d.actual} (sluice sets {d.expected})" for d in drift)
            typer.echo(f"{r.status:8} {r.name} ({r.partitions} partitions){differs}")


def register(app: typer.Typer) -> None:
    """Add the ``topics`` group."""
    app.add_typer(topics_app, name="topics")
