"""Velocity rule against the real Apache Kafka: a burst across two workers, then a restart.

Events are keyed by run_id, so one actor's burst over many runs lands on every
partition of ``workflow.events`` and so on both workers; the count is still exact
because each worker re-keys by actor (``workflow.velocity.repartition``) and one owner
counts each actor. The counts live in ``workflow.velocity.changelog``: after one
worker crashed (SIGKILL) and the other stopped, a new one holds the actor's next event.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
from tests.helpers import (
    WorkerProcess,
    collect,
    produce,
    run_sluice,
    settings_from_env,
    topics_for,
    wait_for_count,
)

pytestmark = pytest.mark.integration

N = 20
POLICY = f"""
version: 1
rules:
  - name: burst
    when: velocity.actor("5m") > {N}
    hold: {{roles: [security], approvals: 1, ttl: 1h, on_expiry: reject}}
  - name: routine
    when: event.kind == "PROMPT"
    allow: {{}}
default:
  hold: {{roles: [security], approvals: 1, ttl: 4h}}
"""


def _events(actor: str, n: int, now: int, tag: str) -> list[dict]:
    base = make_events(1, seed=3, now_ms=now)[0]
    out = []
    for i in range(n):
        out.append(
            {
                **base,
                "event_id": str(uuid.uuid4()),
                "run_id": f"run-{tag}-{i}",  # a run each: spread over the partitions
                "kind": "PROMPT",
                "data_classification": "INTERNAL",
                "content": "routine step",
                "arguments": None,
                "attributes": {},
                "resource": None,
                "cost_usd": None,
                "confidence": None,
                # Looks like the actor as spelled by the runaway agent, case varied: one actor.
                "actor": {**base["actor"], "id": actor if i % 2 else actor.upper()},
            }
        )
    return out


async def test_burst_over_two_workers_holds_the_21st_and_the_count_survives_restart(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    env = {**sluice_env, "SLUICE_POLICY_FILE": str(policy)}
    settings = settings_from_env(env)
    topics = topics_for(env)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    burst = _events("runaway-agent", N + 1, now, "b")
    calm = _events("calm-agent", 5, now, "c")
    items = [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in burst + calm]

    workers = [WorkerProcess(env, tmp_path / f"w{i}.log", worker_id=f"w{i}") for i in range(2)]
    outputs = [topics.approved, topics.rejected, topics.approvals, topics.dlq]
    try:
        for w in workers:
            w.start(timeout=180)
        for w in workers:
            assert w.wait_ready(180), (tmp_path / "w0.log").read_text()[-3000:]
        t0 = time.monotonic()
        await produce(settings, topics.events, items)
        got = await wait_for_count(settings, outputs, len(items), timeout=240)
        burst_seconds = time.monotonic() - t0
        routed = await collect(settings, topics.velocity_repartition)
    finally:
        # One worker crashes (SIGKILL: nothing flushed at exit), the other stops.
        workers[0].kill()
        code = workers[1].stop()
    assert code == 0, (tmp_path / "w1.log").read_text()[-2000:]

    sources = await collect(settings, topics.events)
    assert {r["_partition"] for r in sources} == {0, 1}, "the burst spans both partitions"
    # Both workers routed (each owned a workflow.events partition), into one actor partition.
    runaway = {r["_partition"] for r in routed if r["actor"]["id"].lower() == "runaway-agent"}
    assert len(runaway) == 1
    held = got[topics.approvals]
    approved = got[topics.approved]
    burst_ids = {e["event_id"] for e in burst}
    assert not got[topics.dlq] and not got[topics.rejected]
    assert [h["rule"] for h in held] == ["burst"], "exactly one event, the 21st, is held"
    assert held[0]["event_id"] in burst_ids
    assert sum(1 for a in approved if a["event_id"] in burst_ids) == N
    assert {a["event_id"] for a in approved} >= {e["event_id"] for e in calm}
    # The audit trail: per-partition chains of intake after the re-keying, verified.
    for log in (tmp_path / "w0.log", tmp_path / "w1.log"):
        assert "velocity partition restored" in log.read_text()

    # Every worker gone (one crashed); a new one restores the counts from the changelog.
    more = _events("runaway-agent", 1, now, "after") + _events("fresh-agent", 1, now, "f")
    restarted = WorkerProcess(env, tmp_path / "w2.log", worker_id="w2")
    try:
        restarted.start(timeout=180)
        assert restarted.wait_ready(180), (tmp_path / "w2.log").read_text()[-3000:]
        t1 = time.monotonic()
        await produce(
            settings,
            topics.events,
            [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in more],
        )
        got = await wait_for_count(settings, outputs, len(items) + 2, timeout=240)
        restart_seconds = time.monotonic() - t1
    finally:
        assert restarted.stop() == 0, (tmp_path / "w2.log").read_text()[-3000:]
    held_ids = [h["event_id"] for h in got[topics.approvals]]
    assert more[0]["event_id"] in held_ids, "22nd event of the actor: held after restart"
    assert more[1]["event_id"] in {a["event_id"] for a in got[topics.approved]}

    proc = run_sluice(env, "audit", "verify", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    print(
        f"velocity: burst of {len(items)} through two workers in {burst_seconds:.2f}s,"
        f" after restart {restart_seconds:.2f}s; audit {report.get('ok', report)!s:.60}"
    )
