"""``sluice bench``: throughput and latency against the broker in settings."""

from __future__ import annotations

from enum import StrEnum

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


class KafkaClientName(StrEnum):
    """``--client`` values (sluice.kafka.transport)."""

    aiokafka = "aiokafka"
    confluent = "confluent"


bench_app = typer.Typer(
    help="Benchmarks (ratios against a baseline measured in the same run).",
    invoke_without_command=True,
)


@bench_app.callback()
def bench(
    ctx: typer.Context,
    events: int = typer.Option(50_000, "--events", min=100, help="Events to produce."),
    partitions: int = typer.Option(
        4, "--partitions", min=1, help="Partitions of the bench topics."
    ),
    held_share: float = typer.Option(
        0.05, "--held-share", min=0.0, max=1.0, help="Share of events the policy holds."
    ),
    bootstrap_servers: BootstrapServers = None,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
    duration: float = typer.Option(
        None, "--duration", min=5.0, help="Soak instead: steady load for this many seconds."
    ),
    rate: float = typer.Option(400.0, "--rate", min=1.0, help="With --duration: events/s."),
    client: list[KafkaClientName] = typer.Option(
        [],
        "--client",
        help="The worker's Kafka client (SLUICE_KAFKA_CLIENT); repeat to measure several "
        "in one run (figures per client under by_client). Default: the configured one.",
    ),
    processes: int = typer.Option(
        1,
        "--processes",
        min=1,
        help="Run the measured worker as `sluice run --processes N` (scripts/bench_scale.py "
        "compares several N in one run).",
    ),
) -> None:
    """Raw aiokafka passthrough vs the sluice intake over the same ~1 KB records;
    end-to-end p50/p99 at half the pipeline's max rate. With --duration: a soak at a
    steady --rate reporting worker RSS at start/end (after warm-up) and lag. A progress
    line (events produced) goes to stderr when it is a terminal (not with --json).
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    import orjson

    if duration is not None:
        from sluice.cli.chaos import soak

        soak(
            duration=duration,
            rate=rate,
            held_share=held_share,
            bootstrap_servers=bootstrap_servers,
            json_out=json_out,
        )
        return

    from sluice.cli.progress import progress
    from sluice.settings import load_settings
    from sluice.supervisor import check_processes
    from sluice.tools.bench.pipeline import run_bench

    check_processes(processes, 0)
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    with progress("bench: producing", json_out=json_out) as on_progress:
        result = asyncio.run(
            run_bench(
                settings,
                events,
                held_share=held_share,
                partitions=partitions,
                on_progress=on_progress,
                clients=[c.value for c in client],
                processes=processes,
            )
        )
    if json_out:
        typer.echo(orjson.dumps(result).decode())
    else:
        for k, v in result.items():
            typer.echo(f"{k:20} {v}")


@bench_app.command("latency")
def latency(
    rate: list[float] = typer.Option(
        [100.0], "--rate", min=1.0, help="Fixed events/s of an end-to-end run; repeat for several."
    ),
    seconds: float = typer.Option(15.0, "--seconds", min=1.0, help="Length of each run."),
    e2e: bool = typer.Option(True, "--e2e/--no-e2e", help="Run the end-to-end runs (--rate)."),
    decisions: int = typer.Option(
        500, "--decisions", min=0, help="Approvals of the release run (at 100/s; 0: skip it)."
    ),
    partitions: int = typer.Option(4, "--partitions", min=1, help="Partitions of the topics."),
    client: KafkaClientName = typer.Option(
        None, "--client", help="The worker's Kafka client (default: the configured one)."
    ),
    bootstrap_servers: BootstrapServers = None,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Latency only: end-to-end p50/p90/p99 at fixed rates and decision → release
    p50/p99, without the throughput runs (a few minutes)."""
    import asyncio

    import orjson

    from sluice.settings import load_settings
    from sluice.tools.bench.latency import run_latency_bench

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    result = asyncio.run(
        run_latency_bench(
            settings,
            rates=rate if e2e else [],
            seconds=seconds,
            decisions=decisions,
            partitions=partitions,
            client=client.value if client is not None else None,
        )
    )
    if json_out:
        typer.echo(orjson.dumps(result).decode())
    else:
        typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@bench_app.command("detect")
def detect(
    events: int = typer.Option(2000, "--events", min=100, help="Labelled samples per family."),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Detection quality (precision/recall per family) and sanitize-stage speed."""
    import orjson

    from sluice.tools.bench.detect.report import run_detect_bench

    result = run_detect_bench(events, seed)
    if json_out:
        typer.echo(orjson.dumps(result).decode())
    else:
        typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


def register(app: typer.Typer) -> None:
    """Add ``bench``."""
    app.add_typer(bench_app, name="bench")
