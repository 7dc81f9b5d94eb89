"""Intake throughput against ``sluice run --processes N``, with the passthrough baseline
measured in the same run (docs/performance.md, "Scale-out").

    PYTHONPATH=streams python scripts/bench_scale.py [--events 6000] [--partitions 6]
        [--processes 1 2 3] [--rounds 1] [--json]

Against the broker in settings (``SLUICE_BOOTSTRAP_SERVERS``; ``sluice dev kafka``).
The same N ~1 KB events (the bench mix, ~5 % held) are published once for the raw
aiokafka passthrough, then for each N to fresh topics: the worker runs as
``sluice run --processes N``, is ready (every process holds its partitions), is warmed
up, and is timed from the first publish to the last output visible to a read_committed
consumer (the same clock as ``sluice bench``'s pipeline_eps); the CPU seconds all the
worker's processes used over that time give ``cpu_ms_per_event``. With ``--rounds`` > 1 the
N's are measured in turn, round after round, and the median is kept. The 1-minute load
average is printed beside each figure: on a shared host it says how much was left.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import orjson

from sluice.codec import default_codec
from sluice.kafka import create_topics, delete_topics_with_prefix
from sluice.settings import load_settings
from sluice.tools.bench.events import make_events
from sluice.tools.bench.pipeline import _passthrough, _pipeline, _produce
from sluice.topics import Topics


async def _run(n: int, partitions: int, counts: list[int], rounds: int) -> dict[str, Any]:
    s = load_settings().model_copy(update={"partitions": partitions})
    codec = default_codec()
    events = make_events(n, held_share=0.05, seed=1, now_ms=time.time_ns() // 1_000_000)
    payloads = [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events]
    run = uuid.uuid4().hex[:8]
    try:
        raw = Topics.with_prefix(f"bench-{run}-raw.")
        await create_topics(s, raw, names=[raw.events, raw.approved])
        await _produce(s, raw.events, payloads)
        passthrough = await _passthrough(s, raw.events, raw.approved, n)
        eps: dict[int, list[float]] = {k: [] for k in counts}
        load: dict[int, list[float]] = {k: [] for k in counts}
        cpu: dict[int, list[float]] = {k: [] for k in counts}
        for r in range(rounds):
            for k in counts:
                prefix = f"bench-{run}-p{k}r{r}."
                eps[k].append(
                    await _pipeline(s, prefix, payloads, n, None, None, processes=k, cpu=cpu[k])
                )
                load[k].append(os.getloadavg()[0])
                await delete_topics_with_prefix(s, prefix)
    finally:
        await delete_topics_with_prefix(s, f"bench-{run}-")
    base = statistics.median(eps[counts[0]])
    return {
        "events": n,
        "partitions": partitions,
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "passthrough_eps": round(passthrough),
        "by_processes": {
            str(k): {
                "pipeline_eps": round(statistics.median(eps[k])),
                "runs_eps": [round(x) for x in eps[k]],
                "ratio": float(f"{statistics.median(eps[k]) / passthrough:.4g}"),
                "speedup": float(f"{statistics.median(eps[k]) / base:.3g}"),
                "load1": [round(x, 1) for x in load[k]],
                # CPU the worker's processes used per event (timed part): constant in N
                # means throughput scales with free cores.
                "cpu_ms_per_event": round(statistics.median(cpu[k]) * 1000 / n, 3),
                "cores_busy": round(statistics.median(cpu[k]) * statistics.median(eps[k]) / n, 2),
            }
            for k in counts
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=6000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="One JSON object only.")
    a = ap.parse_args()
    result = asyncio.run(_run(a.events, a.partitions, a.processes, a.rounds))
    if a.json:
        print(orjson.dumps(result).decode())
        return
    print(
        f"{a.events} events, {a.partitions} partitions, {result['cpus']} CPUs;"
        f" passthrough {result['passthrough_eps']} ev/s"
    )
    print(f"{'N':>3} {'ev/s':>8} {'x N=1':>6} {'ratio':>7} {'cpu ms/ev':>9}  runs / load1")
    for k, f in result["by_processes"].items():
        print(
            f"{k:>3} {f['pipeline_eps']:>8} {f['speedup']:>6} {f['ratio']:>7}"
            f" {f['cpu_ms_per_event']:>9}  {f['runs_eps']} / {f['load1']}"
        )
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
