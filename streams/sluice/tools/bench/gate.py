"""Decision → release latency of the gate, for ``sluice bench``.

Held events (CODE_PUBLISH under a one-approval policy) go through a real intake+gate;
then one signed APPROVE per event is published at a steady rate, and each release is
timed from the decision's send to the outcome record's timestamp (set when the gate
appends it).
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sluice.codec import default_codec
from sluice.kafka import create_topics, make_producer, read_topic
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.topics import Topics

__all__ = ["run_gate_bench"]

_POLICY = """
rules:
  - name: hold-all
    when: "true"
    hold: {roles: [release-manager], approvals: 1, ttl: 1h, on_expiry: reject}
"""


async def run_gate_bench(
    settings: Settings, n: int = 500, rate: float = 100.0, prefix: str | None = None
) -> dict[str, Any]:
    """Hold ``n`` events, approve each at ``rate``/s; return decision→release p50/p99 (ms)."""
    from sluice.gate.signatures import sign_decision
    from sluice.tools.chaos.procs import WorkerHandle, worker_env

    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    tmp = Path(tempfile.mkdtemp(prefix="sluice-gate-bench-"))
    (tmp / "policy.yaml").write_text(_POLICY)
    (tmp / "reviewers.yaml").write_text(
        "reviewers:\n  - id: bench-reviewer\n    roles: [release-manager]\n"
        f"    keys: [{{id: k1, public_key: '{pub}'}}]\n"
    )
    prefix = prefix or f"bench-{uuid.uuid4().hex[:8]}-gate."
    s = settings.model_copy(update={"topic_prefix": prefix})
    topics = Topics.with_prefix(prefix)
    await create_topics(s, topics)
    env = worker_env(s.bootstrap_servers, prefix, uuid.uuid4().hex, tmp / "data")
    env["SLUICE_POLICY_FILE"] = str(tmp / "policy.yaml")
    env["SLUICE_REVIEWERS_FILE"] = str(tmp / "reviewers.yaml")
    worker = WorkerHandle(env, tmp / "worker.log", worker_id=f"bench-{uuid.uuid4().hex[:6]}")
    worker.start()
    worker.wait_ready(120)
    codec = default_codec()
    latencies: list[float] = []
    try:
        events = make_events(n, held_share=0.0, seed=3, now_ms=time.time_ns() // 1_000_000)
        producer = make_producer(s)
        await producer.start()
        try:
            futs = [
                await producer.send(
                    topics.events, codec.encode("WorkflowEvent", e), key=e["run_id"].encode()
                )
                for e in events
            ]
            await asyncio.gather(*futs)
            held: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 120
            while len(held) < n and time.monotonic() < deadline:
                async for rec in read_topic(s, topics.approvals):
                    h = codec.decode("HeldEvent", rec.value)
                    held[h["event_id"]] = h
                if len(held) < n:
                    await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # let the gate take the holds into its table
            sent: dict[str, float] = {}
            consumer = AIOKafkaConsumer(
                topics.approved,
                **s.kafka_kwargs(),
                group_id=None,
                isolation_level="read_committed",
                auto_offset_reset="latest",
            )
            await consumer.start()
            try:
                await consumer.seek_to_end()
                expected = len(held)

                async def watch() -> None:
                    # Concurrent with the sends: each release is timed when it becomes
                    # visible to a read_committed consumer.
                    deadline = time.monotonic() + 120
                    while len(latencies) < expected and time.monotonic() < deadline:
                        batch = await consumer.getmany(timeout_ms=200)
                        now = time.time() * 1000
                        for recs in batch.values():
                            for r in recs:
                                t = sent.get(r.key.decode()) if r.key else None
                                if t is not None:
                                    latencies.append(now - t)

                watcher = asyncio.create_task(watch())
                t0 = time.perf_counter()
                for i, h in enumerate(held.values()):
                    delay = t0 + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    d = {
                        "decision_id": str(uuid.uuid4()),
                        "event_id": h["event_id"],
                        "verdict": "APPROVE",
                        "reviewer_id": "bench-reviewer",
                        "reason": "",
                        "decided_at": time.time_ns() // 1_000_000,
                        "key_id": "k1",
                        "content_hash": h["content_hash"],
                        "signature": b"",
                    }
                    d["signature"] = sign_decision(d, key)
                    sent[h["event_id"]] = time.time() * 1000
                    await producer.send(
                        topics.decisions, codec.encode("Decision", d), key=h["event_id"].encode()
                    )
                await watcher
            finally:
                await consumer.stop()
        finally:
            await producer.stop()
    finally:
        worker.stop()
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return round(float(latencies[min(len(latencies) - 1, int(q * len(latencies)))]), 1)

    return {
        "decisions": len(sent),
        "released": len(latencies),
        "decision_rate_eps": rate,
        "release_p50_ms": pct(0.5),
        "release_p99_ms": pct(0.99),
    }
