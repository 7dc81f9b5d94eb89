"""``sluice run --processes 2`` against the real broker: both processes join the
consumer groups and take partitions, every event is routed exactly once
(read_committed), the log lines name their process, and SIGTERM stops all with 0."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from sluice.tools.bench.events import make_events
from sluice.tools.chaos.accounting import settle
from sluice.tools.chaos.load import encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle
from sluice.tools.chaos.scenario import prepare

pytestmark = [pytest.mark.integration]


async def test_two_processes_share_partitions_and_route_each_event_once(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    scn = prepare({**sluice_env, "SLUICE_PARTITIONS": "4"}, tmp_path / "scn")
    now = time.time_ns() // 1_000_000
    evs = make_events(400, held_share=0.05, seed=16, now_ms=now)
    log_path = tmp_path / "run.log"
    w = WorkerHandle(scn.env, log_path, worker_id="scale", processes=2)
    await asyncio.to_thread(w.start, 180)
    try:
        assert len(set(w.metrics_ports)) == 2
        assert await asyncio.to_thread(w.wait_ready, 180)
        await pace(scn.settings, scn.topics.events, encode_events(evs), 400)
        acc, _ = await settle(scn, [e["event_id"] for e in evs], within_s=120)
        per_process = [w.metric("sluice_events_total", port=p) for p in w.metrics_ports]
    finally:
        code = await asyncio.to_thread(w.stop, 60)
    print("\nrun --processes 2:", json.dumps({**acc.as_dict(), "per_process": per_process}))
    assert acc.ok and acc.accounted == len(evs), acc.as_dict()
    assert acc.approved + acc.rejected + acc.dlq + acc.still_held == len(evs)
    assert all(n > 0 for n in per_process), per_process  # both took partitions
    assert sum(per_process) >= len(evs)  # (plus nothing else: fresh topics)
    assert code == 0, log_path.read_text()[-3000:]
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    running = {
        (r["process_index"], r["worker_id"]) for r in lines if r["msg"] == "sluice worker running"
    }
    assert running == {(0, "scale-p0"), (1, "scale-p1")}
    assert any(r["msg"] == "sluice supervisor stopped" and r["reason"] == "SIGTERM" for r in lines)
