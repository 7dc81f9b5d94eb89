"""``sluice dev demo``: local Kafka + worker + sample events, and where each one went."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from sluice.codec import default_codec
from sluice.emitter import Emitter
from sluice.errors import EmitError
from sluice.kafka import create_topics, make_producer, read_topic
from sluice.settings import Settings
from sluice.tools import repo_root
from sluice.tools.dev.broker import KafkaBroker, kafka_answers
from sluice.topics import Topics

__all__ = ["run_demo", "sample_events_path"]


def sample_events_path() -> Path:
    """The shipped sample events (repo: deploy/local/sample-events.jsonl)."""
    return repo_root() / "deploy" / "local" / "sample-events.jsonl"


def _say(msg: str) -> None:
    print(msg, flush=True)


async def _emit(settings: Settings, lines: list[str]) -> list[tuple[int, str | None, str | None]]:
    out: list[tuple[int, str | None, str | None]] = []
    async with Emitter(settings) as emitter:
        for n, line in enumerate(lines, 1):
            try:
                event_id = await emitter.emit(orjson.loads(line))
                out.append((n, event_id, None))
            except EmitError as exc:
                out.append((n, None, str(exc)))
    # One record that is not Avro at all, to show the DLQ.
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            Topics.with_prefix(settings.topic_prefix).events,
            b"this is not an avro record",
            key=b"run-999",
        )
    finally:
        await producer.stop()
    return out


async def _where(
    settings: Settings, expected: int, timeout: float = 60.0
) -> dict[str, dict[str, Any]]:
    topics = Topics.with_prefix(settings.topic_prefix)
    codec = default_codec()
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        found = {}
        for name, topic in (
            ("approved", topics.approved),
            ("rejected", topics.rejected),
            ("held", topics.approvals),
            ("dlq", topics.dlq),
        ):
            async for rec in read_topic(settings, topic, timeout_s=10):
                _, value = codec.decode_any(rec.value)
                key = value.get("event_id") or f"dlq@{rec.offset}"
                if name == "held" and key in found:
                    continue
                found[key] = {"where": name, **value}
        if len(found) >= expected:
            break
        await asyncio.sleep(1.0)
    return found


def run_demo(settings: Settings, *, stay: bool = True) -> int:
    """Start what is not running, publish the samples, print where each went."""
    broker: KafkaBroker | None = None
    host, _, port = settings.bootstrap_servers.partition(",")[0].rpartition(":")
    if host in ("127.0.0.1", "localhost") and not kafka_answers(int(port)):
        broker = KafkaBroker(int(port), settings.data_dir / "kafka")
        _say(
            f"starting Apache Kafka on 127.0.0.1:{port} "
            "(first start fetches its jars from Maven Central)…"
        )
        broker.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        for r in asyncio.run(create_topics(settings)):
            _say(f"topic {r.name}: {r.status}")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.data_dir / "worker.log"
        _say(
            f"starting the sluice worker (log: {log_path}, metrics: http://127.0.0.1:{settings.metrics_port}/metrics)"
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "sluice", "run"],
            env=os.environ.copy(),
            stdout=open(log_path, "ab"),
            stderr=subprocess.STDOUT,
        )
        time.sleep(3)
        if worker.poll() is not None:
            _say(f"the worker exited ({worker.returncode}); see {log_path}")
            return 1
        lines = [ln for ln in sample_events_path().read_text().splitlines() if ln.strip()]
        sent = asyncio.run(_emit(settings, lines))
        ok = [s for s in sent if s[1]]
        found = asyncio.run(_where(settings, len(ok) + 1))
        _say("\nline  event_id                              where     rule / reason")
        for n, event_id, error in sent:
            if event_id is None:
                _say(f"{n:>4}  {'(refused by the Emitter)':36}  -         {error}")
                continue
            f = found.get(event_id, {"where": "pending"})
            detail = f.get("rule") or ""
            if f.get("reason"):
                detail += f" ({f['reason']})"
            if f.get("findings"):
                detail += " findings: " + ", ".join(sorted({x["detector"] for x in f["findings"]}))
            _say(f"{n:>4}  {event_id}  {f['where']:8}  {detail}")
        for f in found.values():
            if f["where"] == "dlq":
                _say(
                    f"   -  {'(raw bytes, not Avro)':36}  dlq       "
                    f"{f['error_code']}: {f['detail']}"
                )
        _say(
            "\nTry: sluice review list | sluice tail workflow.events.approved --from-beginning -n 5"
            " | sluice trace EVENT_ID"
        )
        if not stay:
            return 0
        _say("worker and broker keep running; Ctrl-C to stop")

        def _interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while worker.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            _say("stopping")
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if broker is not None:
            broker.stop()
