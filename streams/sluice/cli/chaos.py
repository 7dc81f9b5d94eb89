"""``sluice chaos``: the reliability suite's long forms against the configured Kafka.

Each run uses a fresh topic prefix and consumer groups, a temporary policy and a freshly
keyed reviewers registry, and starts its own ``sluice run`` worker processes. Exit 1
when the conservation invariant (SPEC §1) was violated.
"""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]

chaos_app = typer.Typer(
    help="Fault injection: crash loops and soak runs (long forms of tests/reliability).",
    no_args_is_help=True,
)


def _base_env(bootstrap_servers: str | None) -> dict[str, str]:
    import uuid

    from sluice.settings import load_settings
    from sluice.tools.chaos.procs import worker_env

    settings = load_settings(
        **({"bootstrap_servers": bootstrap_servers} if bootstrap_servers else {})
    )
    prefix = f"chaos-{uuid.uuid4().hex[:8]}."
    return worker_env(settings.bootstrap_servers, prefix, uuid.uuid4().hex)


def _emit(result: dict[str, object], json_out: bool) -> None:
    import orjson

    if json_out:
        typer.echo(orjson.dumps(result, default=str).decode())
    else:
        typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=str).decode())


@chaos_app.command("crash")
def crash(
    events: int = typer.Option(20_000, "--events", min=100, help="Events to publish."),
    kills: int = typer.Option(10, "--kills", min=1, help="SIGKILLs of the worker."),
    rate: float = typer.Option(200.0, "--rate", min=1.0, help="Events per second."),
    seed: int = typer.Option(1, "--seed"),
    bootstrap_servers: BootstrapServers = None,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Publish with decisions in flight, SIGKILL and restart the worker, then account."""
    import asyncio
    import tempfile
    from pathlib import Path

    from sluice.tools.chaos.runs import crash_run
    from sluice.tools.chaos.scenario import prepare

    with tempfile.TemporaryDirectory(prefix="sluice-chaos-") as tmp:
        scn = prepare(_base_env(bootstrap_servers), Path(tmp))
        report = asyncio.run(crash_run(scn, events=events, kills=kills, rate=rate, seed=seed))
    _emit(report.__dict__, json_out)
    if not report.accounting["ok"] or report.must_release_missing:
        raise typer.Exit(1)


@chaos_app.command("soak")
def soak(
    duration: float = typer.Option(600.0, "--duration", min=5.0, help="Seconds of steady load."),
    rate: float = typer.Option(1000.0, "--rate", min=1.0, help="Events per second."),
    held_share: float = typer.Option(0.05, "--held-share", min=0.0, max=1.0),
    bootstrap_servers: BootstrapServers = None,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Steady load against one worker: RSS at start/end of the run, lag at the end."""
    import asyncio
    import tempfile
    from pathlib import Path

    from sluice.cli.progress import progress
    from sluice.tools.chaos.runs import soak as run_soak
    from sluice.tools.chaos.scenario import prepare

    with tempfile.TemporaryDirectory(prefix="sluice-chaos-") as tmp:
        scn = prepare(_base_env(bootstrap_servers), Path(tmp))
        with progress("soak: publishing", json_out=json_out) as on_progress:
            report = asyncio.run(
                run_soak(
                    scn,
                    duration_s=duration,
                    rate=rate,
                    held_share=held_share,
                    on_progress=on_progress,
                )
            )
    result = {k: v for k, v in report.__dict__.items() if k != "samples"}
    _emit(result, json_out)
    if report.lost or report.released_twice or report.lag_end:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``chaos``."""
    app.add_typer(chaos_app, name="chaos")
