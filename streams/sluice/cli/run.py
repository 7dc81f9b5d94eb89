"""``sluice run``: the pipeline worker (intake + gate) with /metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def run(
    metrics_port: int = typer.Option(
        None,
        "--metrics-port",
        help="Port of /metrics, /healthz, /readyz (default $SLUICE_METRICS_PORT or 9464; 0: any).",
    ),
    bootstrap_servers: BootstrapServers = None,
    policy: Path = typer.Option(
        None, "--policy", help="Policy YAML (default $SLUICE_POLICY_FILE or the shipped default)."
    ),
    reviewers: Path = typer.Option(
        None, "--reviewers", help="Reviewers registry YAML (default $SLUICE_REVIEWERS_FILE)."
    ),
    producers: Path = typer.Option(
        None,
        "--producers",
        help="Producers registry YAML (default $SLUICE_PRODUCERS_FILE; unset: no producer auth).",
    ),
    stage: list[str] = typer.Option(
        ["intake", "gate"], "--stage", help="Stages to run: intake, gate (repeatable)."
    ),
    log_level: str = typer.Option(None, "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
    processes: int = typer.Option(
        1,
        "--processes",
        help="Worker processes on this host (1..4 x CPUs), each a member of the consumer "
        "groups with worker id <id>-p<i> and /metrics on --metrics-port + i "
        "(docs/performance.md, Scale-out).",
    ),
) -> None:
    """Run the worker: consume workflow.events and decisions until SIGTERM or Ctrl-C.

    Scale out by starting more workers with the same group ids (partitions ≥ workers),
    here with --processes or on more machines.
    """
    from sluice.errors import ConfigError
    from sluice.logs import setup_logging
    from sluice.settings import load_settings
    from sluice.supervisor import check_processes, supervise
    from sluice.worker import run_worker

    bad = set(stage) - {"intake", "gate"}
    if bad:
        raise ConfigError(f"unknown stage(s): {', '.join(sorted(bad))} (use intake, gate)")
    settings = load_settings(
        metrics_port=metrics_port,
        bootstrap_servers=bootstrap_servers,
        policy_file=policy,
        reviewers_file=reviewers,
        producers_file=producers,
        log_level=log_level,
    )
    check_processes(processes, settings.metrics_port)
    setup_logging(settings.log_level)
    logging.getLogger(__name__).info("starting", extra={"bootstrap": settings.bootstrap_servers})
    if processes == 1:
        run_worker(settings, tuple(stage))
        return
    code = supervise(settings, tuple(stage), processes)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``run``."""
    app.command("run")(run)
