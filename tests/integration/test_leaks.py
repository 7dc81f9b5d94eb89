"""No planted secret reaches any output topic, the DLQ, the worker log or /metrics.

Secrets are generated at test time (provider formats) and planted in every text field
of valid events and of events that fail validation.
"""

from __future__ import annotations

import random
import string
import time
import uuid
from pathlib import Path

import pytest

from sluice.codec import default_codec
from sluice.kafka import read_topic
from sluice.tools.bench.events import make_events
from tests.helpers import WorkerProcess, produce, settings_from_env, topics_for, wait_for_count

pytestmark = pytest.mark.integration

_B32 = string.ascii_uppercase + "234567"
_ALNUM = string.ascii_letters + string.digits


def _secret(rng: random.Random, i: int) -> str:
    kinds = [
        lambda: "AKIA" + "".join(rng.choices(_B32, k=16)),
        lambda: "ghp_" + "".join(rng.choices(_ALNUM, k=36)),
        lambda: "sk_live_" + "".join(rng.choices(_ALNUM, k=24)),
        lambda: (
            "xoxb-"
            + "-".join("".join(rng.choices(string.digits, k=12)) for _ in range(2))
            + "-"
            + "".join(rng.choices(_ALNUM, k=24))
        ),
    ]
    return kinds[i % len(kinds)]()


FIELDS = [
    "step",
    "action",
    "resource",
    "content",
    "on_behalf_of",
    "trace_id",
    "arg_value",
    "arg_key",
    "attr_value",
    "attr_key",
    "model_name",
    "workflow_id",
    "run_id",
    "actor_id",
]


def _plant(ev: dict, field: str, secret: str) -> None:
    text = f"use {secret} now"
    if field == "arg_value":
        ev["arguments"] = {**(ev["arguments"] or {}), "token": text}
    elif field == "arg_key":
        ev["arguments"] = {**(ev["arguments"] or {}), secret: "v"}
    elif field == "attr_value":
        ev["attributes"] = {**ev["attributes"], "note": text}
    elif field == "attr_key":
        ev["attributes"] = {**ev["attributes"], secret: "v"}
    elif field == "model_name":
        ev["model"] = {"name": text, "version": None, "provider": None}
    elif field == "actor_id":
        ev["actor"] = {**ev["actor"], "id": text}
    else:
        ev[field] = text


async def test_no_secret_leaks_anywhere(sluice_env: dict[str, str], tmp_path: Path) -> None:
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    rng = random.Random(1234)
    now = time.time_ns() // 1_000_000
    secrets: list[str] = []
    items: list[tuple[bytes | None, bytes]] = []
    for i, field in enumerate(FIELDS):
        for invalid in (None, "uuid", "window"):
            ev = make_events(
                1,
                seed=1000 + i * 3 + (0 if invalid is None else 1 if invalid == "uuid" else 2),
                now_ms=now,
            )[0]
            secret = _secret(rng, len(secrets))
            secrets.append(secret)
            _plant(ev, field, secret)
            if invalid == "uuid":
                ev["event_id"] = "bad-" + uuid.uuid4().hex
                data = codec.encode("WorkflowEvent", ev)
            elif invalid == "window":
                ev["occurred_at"] = now - 90 * 86400_000
                data = codec.encode("WorkflowEvent", ev)
            else:
                data = codec.encode("WorkflowEvent", ev)
            items.append((str(ev["run_id"]).encode(), data))
    log_path = tmp_path / "worker.log"
    worker = WorkerProcess({**sluice_env, "SLUICE_LOG_LEVEL": "DEBUG"}, log_path)
    worker.start()
    try:
        await produce(settings, topics.events, items)
        await wait_for_count(
            settings, [topics.approved, topics.rejected, topics.approvals, topics.dlq], len(items)
        )
        metrics = worker.metrics_text()
    finally:
        worker.stop()
    blobs: list[bytes] = []
    counts = {}
    for topic in (topics.approved, topics.rejected, topics.approvals, topics.dlq, topics.audit):
        n = 0
        async for rec in read_topic(settings, topic):
            blobs.append((rec.key or b"") + b"\x00" + (rec.value or b""))
            n += 1
        counts[topic] = n
    assert counts[topics.dlq] == 2 * len(FIELDS), counts
    everything = b"\n".join(blobs)
    log = log_path.read_bytes()
    leaks = [
        (s, where)
        for s in secrets
        for where, blob in (("topics", everything), ("log", log), ("metrics", metrics.encode()))
        if s.encode() in blob
    ]
    assert not leaks, f"{len(leaks)} leaks, e.g. {leaks[0][1]}"
    # The planted values really went through: the redaction marks are there.
    assert everything.count(b"[REDACTED:") >= len(FIELDS)
