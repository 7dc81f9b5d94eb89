"""``sluice bench latency``: the latency figures alone, without the throughput runs.

End-to-end (upstream send → output visible to a ``read_committed`` consumer) at each
fixed rate, each on fresh topics with a fresh worker process, and decision → release
of the gate (:mod:`sluice.tools.bench.gate`). Minutes instead of the full bench's
quarter hour: for before/after comparisons of the stage loop's latency settings.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from sluice.codec import default_codec
from sluice.kafka import delete_topics_with_prefix
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.tools.bench.gate import run_gate_bench
from sluice.tools.bench.pipeline import _pct, _pipeline

__all__ = ["run_latency_bench"]


async def run_latency_bench(
    settings: Settings,
    *,
    rates: Sequence[float] = (100.0,),
    seconds: float = 15.0,
    decisions: int = 500,
    partitions: int = 4,
    client: str | None = None,
) -> dict[str, Any]:
    """p50/p99/max end-to-end at each of ``rates`` (``seconds`` of events each), and
    decision → release p50/p99 over ``decisions`` approvals at 100/s (0: skipped)."""
    run = uuid.uuid4().hex[:8]
    s = settings.model_copy(update={"partitions": partitions})
    codec = default_codec()
    out: dict[str, Any] = {"client": client or s.kafka_client, "partitions": partitions}
    try:
        for i, rate in enumerate(rates):
            m = max(50, int(rate * seconds))
            events = make_events(m, held_share=0.0, seed=2, now_ms=time.time_ns() // 1_000_000)
            payloads = [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events]
            lat: list[float] = []
            await _pipeline(s, f"bench-{run}-l{i}.", payloads, m, rate, lat, None, client)
            lat.sort()
            tag = f"{rate:g}"
            out[f"e2e_{tag}"] = {
                "events": m,
                "p50_ms": _pct(0.50, lat),
                "p90_ms": _pct(0.90, lat),
                "p99_ms": _pct(0.99, lat),
                "max_ms": float(lat[-1]) if lat else float("nan"),
            }
        if decisions:
            out.update(await run_gate_bench(s, n=decisions, prefix=f"bench-{run}-gate."))
    finally:
        await delete_topics_with_prefix(s, f"bench-{run}-")
    return out
