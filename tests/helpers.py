"""Test helpers: run a real ``sluice run`` worker process, produce, collect topic contents."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.codec import default_codec
from sluice.gate.signatures import public_key_to_b64
from sluice.kafka import make_producer, read_topic
from sluice.settings import Settings, load_settings
from sluice.tools.chaos.procs import WorkerHandle
from sluice.topics import Topics

REPO = Path(__file__).resolve().parents[1]


#: The worker process handle the chaos tooling uses (start, wait_ready, metrics, stop, kill).
WorkerProcess = WorkerHandle


def run_sluice(
    env: dict[str, str], *args: str, timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m sluice ARGS`` to its end in a subprocess, with ``env`` laid over this
    process's environment; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def reviewers_data(
    keys: Mapping[str, Ed25519PrivateKey],
    roles: Mapping[str, Sequence[str]] | None = None,
    *,
    key_suffix: str = "k1",
    revoked: Collection[str] = (),
) -> dict[str, Any]:
    """A reviewers registry document: each reviewer of ``keys`` with one key
    (``<id>-<key_suffix>``), the roles ``roles`` gives it (default: release manager),
    revoked for the ids in ``revoked``."""
    return {
        "reviewers": [
            {
                "id": rid,
                "roles": list(roles[rid]) if roles is not None else ["release-manager"],
                "keys": [
                    {
                        "id": f"{rid}-{key_suffix}",
                        "public_key": public_key_to_b64(key.public_key()),
                        "revoked": rid in revoked,
                    }
                ],
            }
            for rid, key in keys.items()
        ]
    }


def reviewers_yaml(keys: Mapping[str, Ed25519PrivateKey], revoked: Collection[str]) -> str:
    """:func:`reviewers_data` as YAML text, for a registry file."""
    return yaml.safe_dump(reviewers_data(keys, revoked=revoked))


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
