"""``sluice tail``: decode and print any sluice topic."""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def tail(
    topic: str = typer.Argument(
        ..., help="Topic name (e.g. workflow.events.approved); the prefix is not added."
    ),
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="Start at the oldest record (default: only new ones)."
    ),
    n: int = typer.Option(None, "-n", "--max", min=1, help="Stop after N records."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per record."),
    timeout: float = typer.Option(
        None,
        "--timeout",
        help="Stop after this many idle seconds (default: with --from-beginning, 5).",
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Print records of TOPIC decoded with the schema their fingerprint names.

    Nested single-object payloads (the ``event`` of an Outcome or HeldEvent) are decoded
    too; bytes that do not decode are shown as base64 with the reason.
    """
    import asyncio

    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    idle = timeout if timeout is not None else (5.0 if from_beginning else None)
    asyncio.run(_tail(settings, topic, from_beginning, n, json_out, idle))


async def _tail(settings, topic, from_beginning, n, json_out, idle):  # type: ignore[no-untyped-def]
    import base64
    import datetime as dt
    from contextlib import aclosing

    import orjson

    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka.reads import follow_topic

    codec = default_codec()
    shown = 0
    records = follow_topic(settings, topic, from_beginning=from_beginning, idle_s=idle)
    async with aclosing(records):
        async for rec in records:
            try:
                name, value = codec.decode_any(rec.value or b"")
                value = _expand(codec, value)
            except DecodeError as exc:
                name, value = (
                    "undecodable",
                    {"error": str(exc), "base64": base64.b64encode(rec.value or b"").decode()},
                )
            out = {
                "topic": rec.topic,
                "partition": rec.partition,
                "offset": rec.offset,
                "timestamp": rec.timestamp,
                "key": rec.key.decode("utf-8", "replace") if rec.key else None,
                "schema": name,
                "value": value,
            }
            if json_out:
                typer.echo(orjson.dumps(out, default=_default).decode())
            else:
                ts = dt.datetime.fromtimestamp(rec.timestamp / 1000, dt.UTC).isoformat()
                typer.echo(
                    f"{rec.topic}[{rec.partition}]@{rec.offset} {ts} "
                    f"key={out['key']} {name}: " + orjson.dumps(value, default=_default).decode()
                )
            shown += 1
            if n is not None and shown >= n:
                return


def _expand(codec, value):  # type: ignore[no-untyped-def]
    if isinstance(value, dict) and isinstance(value.get("event"), bytes):
        try:
            value = {**value, "event": codec.decode("WorkflowEvent", value["event"])}
        except Exception:  # noqa: S110 - not a WorkflowEvent: leave the bytes as they are
            pass
    return value


def _default(obj):  # type: ignore[no-untyped-def]
    import base64

    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(obj).decode()
    raise TypeError


def register(app: typer.Typer) -> None:
    """Add ``tail``."""
    app.command("tail")(tail)
