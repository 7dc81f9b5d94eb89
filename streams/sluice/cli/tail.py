"""``sluice tail``: decode and print any sluice topic."""

from __future__ import annotations

import typer

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
    bootstrap_servers: str = typer.Option(
        None, "--bootstrap-servers", help="Kafka bootstrap servers."
    ),
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
    import asyncio
    import base64
    import datetime as dt

    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from sluice.codec import default_codec
    from sluice.errors import ConfigError, DecodeError
    from sluice.kafka import refresh_metadata

    codec = default_codec()
    consumer = AIOKafkaConsumer(
        **settings.kafka_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await refresh_metadata(consumer)
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise ConfigError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        shown = 0
        loop = asyncio.get_running_loop()
        last = loop.time()
        while n is None or shown < n:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                if idle is not None and loop.time() - last > idle:
                    break
                continue
            last = loop.time()
            for recs in batch.values():
                for rec in recs:
                    try:
                        name, value = codec.decode_any(rec.value or b"")
                        value = _expand(codec, value)
                    except DecodeError as exc:
                        name, value = (
                            "undecodable",
                            {
                                "error": str(exc),
                                "base64": base64.b64encode(rec.value or b"").decode(),
                            },
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
                            f"key={out['key']} {name}: "
                            + orjson.dumps(value, default=_default).decode()
                        )
                    shown += 1
                    if n is not None and shown >= n:
                        return
    finally:
        await consumer.stop()


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
