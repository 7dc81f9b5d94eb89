"""Test helpers: run a real ``sluice run`` worker process, produce, collect topic contents."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sluice.codec import default_codec
from sluice.kafka_io import make_producer, read_topic
from sluice.settings import Settings, load_settings
from sluice.topics import Topics

REPO = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """``python -m sluice run`` as a child process with the given environment."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        worker_id: str = "w0",
        extra_args: Iterable[str] = (),
    ) -> None:
        self.env = {
            **os.environ,
            **env,
            "SLUICE_WORKER_ID": worker_id,
            "SLUICE_METRICS_PORT": "0",
            "SLUICE_LOG_LEVEL": "INFO",
        }
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port: int | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice", "run", *self.extra_args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode("utf-8", "replace")
            m = re.search(r'"metrics_port": ?(\d+)', text)
            if m:
                self.metrics_port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError("worker did not start in time:\n" + self.log_path.read_text()[-3000:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=2
                ) as r:
                    if r.status == 200:
                        return
            except Exception:  # noqa: S110 - not up yet
                pass
            time.sleep(0.2)
        raise RuntimeError("worker not ready:\n" + self.log_path.read_text()[-3000:])

    def metrics_text(self) -> str:
        import urllib.request

        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            return str(r.read().decode())

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def settings_from_env(env: dict[str, str]) -> Settings:
    return load_settings(
        bootstrap_servers=env["SLUICE_BOOTSTRAP_SERVERS"], topic_prefix=env["SLUICE_TOPIC_PREFIX"]
    )


async def produce(
    settings: Settings, topic: str, items: Iterable[tuple[bytes | None, bytes]]
) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        futs = [await producer.send(topic, value, key=key) for key, value in items]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def collect(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` decoded (value dict plus _key/_partition/_offset)."""
    codec = default_codec()
    out = []
    async for rec in read_topic(settings, topic):
        _, value = codec.decode_any(rec.value)
        value["_key"] = rec.key
        value["_partition"] = rec.partition
        value["_offset"] = rec.offset
        out.append(value)
    return out


async def wait_for_count(
    settings: Settings, topics: Iterable[str], expected: int, timeout: float = 90.0
) -> dict[str, list[dict[str, Any]]]:
    """Poll until the topics hold ``expected`` records in total (or time out)."""
    deadline = time.monotonic() + timeout
    topics = list(topics)
    while True:
        got = {t: await collect(settings, t) for t in topics}
        total = sum(len(v) for v in got.values())
        if total >= expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(1.0)


def topics_for(env: dict[str, str]) -> Topics:
    return Topics.with_prefix(env["SLUICE_TOPIC_PREFIX"])
