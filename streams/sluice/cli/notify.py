"""``sluice notify``: run the notifier (held, escalated, expiring, decided → sinks)."""

from __future__ import annotations

from pathlib import Path

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def notify(
    config: Path = typer.Option(
        None, "--config", help="Sinks file (default: SLUICE_NOTIFY_FILE); README 'Notifications'."
    ),
    metrics_port: int = typer.Option(
        None, "--metrics-port", help="Serve /metrics here (default: no metrics endpoint)."
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Follow the gate's changelog and notify each transition once per sink."""
    import asyncio

    from sluice.errors import ConfigError
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    path = config or settings.notify_file
    if path is None:
        raise ConfigError("no sinks file: pass --config or set SLUICE_NOTIFY_FILE")
    asyncio.run(_run(settings, path, metrics_port))


async def _run(settings, path, metrics_port):  # type: ignore[no-untyped-def]
    import asyncio
    import signal

    from prometheus_client import CollectorRegistry

    from sluice.codec import default_codec
    from sluice.http import Health, MetricsServer
    from sluice.metrics import create
    from sluice.notify import Notifier, load_notify_config, make_sink

    cfg = load_notify_config(path, settings.console_url)
    registry = CollectorRegistry()
    metrics = create(registry)
    server = None
    if metrics_port is not None:
        server = MetricsServer(registry, Health(), settings.metrics_host, metrics_port)
        await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier(settings, cfg, [make_sink(s) for s in cfg.sinks], default_codec(), metrics)
    try:
        await notifier.run(stop)
    finally:
        if server is not None:
            await server.stop()


def register(app: typer.Typer) -> None:
    """Add ``notify`` to the root app."""
    app.command("notify")(notify)
