"""``sluice emit``: publish WorkflowEvents from JSON lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def emit(
    source: str = typer.Argument(
        ..., help="JSON-lines file, or - for stdin; one WorkflowEvent per line."
    ),
    topic: str = typer.Option(
        None, "--topic", help="Topic (default workflow.events, with $SLUICE_TOPIC_PREFIX)."
    ),
    bootstrap_servers: BootstrapServers = None,
    json_out: bool = typer.Option(False, "--json", help="One JSON result object per line."),
    producer_key: Path = typer.Option(
        None,
        "--producer-key",
        help="Producer key file: sign each record (default $SLUICE_PRODUCER_KEY_FILE).",
    ),
) -> None:
    """Validate and publish each line; report per line. Bad lines get a one-line error
    with the line number and are skipped; the rest are still sent. Exit 1 if any line failed.
    """
    import asyncio

    import orjson

    from sluice.emitter import Emitter
    from sluice.errors import ConfigError, EmitError
    from sluice.settings import load_settings

    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(source).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    settings = load_settings(bootstrap_servers=bootstrap_servers, producer_key_file=producer_key)
    from sluice.producers import read_producer_key

    # Read the key before connecting: a bad key file is a one-line error, exit 2.
    signer = (
        read_producer_key(settings.producer_key_file)
        if settings.producer_key_file is not None
        else None
    )

    async def go() -> int:
        results: list[tuple[int, str | None, Any, str | None]] = []
        async with Emitter(settings, topic=topic, producer_key=signer) as emitter:
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    event = orjson.loads(line)
                    if not isinstance(event, dict):
                        raise EmitError("line is not a JSON object")
                    event_id, fut = await emitter.send(event)
                except orjson.JSONDecodeError:
                    results.append((n, None, None, "not valid JSON"))
                except EmitError as exc:
                    results.append((n, None, None, str(exc)))
                else:
                    results.append((n, event_id, fut, None))
            failed = 0
            for n, sent_id, fut, err in results:
                error: str | None = err
                if fut is not None:
                    try:
                        await fut
                    except Exception as exc:
                        error = f"not delivered ({type(exc).__name__})"
                if error is not None:
                    failed += 1
                _report(json_out, n, sent_id if error is None else None, error)
        return failed

    failed = asyncio.run(go())
    if failed:
        raise typer.Exit(1)


def _report(json_out: bool, line: int, event_id: str | None, error: str | None) -> None:
    import orjson

    if json_out:
        typer.echo(
            orjson.dumps(
                {"line": line, "event_id": event_id, "ok": error is None, "error": error}
            ).decode()
        )
    elif error is None:
        typer.echo(f"line {line}: sent {event_id}")
    else:
        typer.echo(f"line {line}: error: {error}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``emit``."""
    app.command("emit")(emit)
