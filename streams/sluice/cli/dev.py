"""``sluice dev broker``: run the local Apache Kafka in the foreground."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import typer

__all__ = ["register"]

dev_app = typer.Typer(help="Local development: the embedded Apache Kafka.", no_args_is_help=True)


@dev_app.command("broker")
def broker(
    port: int = typer.Option(19092, "--port", help="Client port on 127.0.0.1."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Kafka data directory (default: $SLUICE_DATA_DIR/kafka)."
    ),
    heap: str = typer.Option("512m", "--heap", help="JVM heap."),
    create_topics: bool = typer.Option(
        True, "--create-topics/--no-create-topics", help="Create the sluice topics once up."
    ),
) -> None:
    """Run Apache Kafka (KRaft, broker+controller) on 127.0.0.1 until SIGTERM or Ctrl-C.

    Jars are resolved once from Maven Central (deploy/local/kafka/pom.xml); storage is
    formatted on first start and kept across restarts.
    """
    import asyncio

    from sluice.kafka import create_topics as _create
    from sluice.settings import load_settings
    from sluice.tools.dev.broker import KafkaBroker

    settings = load_settings(bootstrap_servers=f"127.0.0.1:{port}")
    kafka = KafkaBroker(port, data_dir or settings.data_dir / "kafka", heap=heap)
    typer.echo(f"starting Apache Kafka on {kafka.bootstrap} (data: {kafka.data_dir})", err=True)
    kafka.start()

    def _stop(signum: int, frame: FrameType | None) -> None:
        typer.echo("stopping Kafka", err=True)
        kafka.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if create_topics:
        for r in asyncio.run(_create(settings)):
            typer.echo(f"topic {r.name}: {r.status} ({r.partitions} partitions)", err=True)
    typer.echo(f"Kafka ready on {kafka.bootstrap}; Ctrl-C to stop", err=True)
    code = kafka.wait()
    raise typer.Exit(0 if code in (0, 143, -15) else code)


def register(app: typer.Typer) -> None:
    """Add the ``dev`` group."""
    app.add_typer(dev_app, name="dev")


@dev_app.command("demo")
def demo(
    exit_after: bool = typer.Option(
        False, "--exit", help="Stop worker and broker after showing the results."
    ),
) -> None:
    """Start the local Kafka (if not running) and a worker, publish the sample events
    (deploy/local/sample-events.jsonl), and show where each one went.
    """
    from sluice.logs import setup_logging
    from sluice.settings import load_settings
    from sluice.tools.dev.demo import run_demo

    setup_logging("WARNING")
    raise typer.Exit(run_demo(load_settings(), stay=not exit_after))
