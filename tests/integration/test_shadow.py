"""Shadow policy against the real Apache Kafka: a worker with a candidate that holds what
the live policy passes records each disagreement on workflow.policy.shadow (no content,
exactly once) without changing routing; ``sluice policy diff`` over the stored history
then shows the same change."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.codec import default_codec
from sluice.kafka import read_topic
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from tests.helpers import (
    WorkerProcess,
    produce,
    run_sluice,
    settings_from_env,
    topics_for,
    wait_for_count,
)
from tests.unit.shadow.test_shadow import AWS, CANARY, CANDIDATE, LIVE

pytestmark = pytest.mark.integration


async def test_shadow_disagreements_recorded_routing_unchanged_then_diff(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    live, cand = tmp_path / "live.yaml", tmp_path / "candidate.yaml"
    live.write_text(LIVE)
    cand.write_text(CANDIDATE)
    now = time.time_ns() // 1_000_000
    events = make_events(10, held_share=0.0, seed=17, now_ms=now)
    for i, ev in enumerate(events):
        ev["kind"] = "TOOL_CALL" if i < 6 else "PROMPT"
    events[0]["content"] = f"use {AWS} ({CANARY})"  # live denies it; the candidate holds
    tools = {e["event_id"] for e in events[:6]}
    env = {
        **sluice_env,
        "SLUICE_POLICY_FILE": str(live),
        "SLUICE_SHADOW_POLICY_FILE": str(cand),
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await produce(
            settings,
            topics.events,
            [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events],
        )
        got = await wait_for_count(
            settings, [topics.approved, topics.rejected, topics.approvals], len(events)
        )
        metrics = worker.metrics_text()
        for _ in range(20):  # counted just after the commit that made the records visible
            if 'live="allow"} 5.0' in metrics:
                break
            await asyncio.sleep(0.25)
            metrics = worker.metrics_text()
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]

    # Routing is the live policy's: tool calls and prompts approved, the secret rejected.
    assert {r["event_id"] for r in got[topics.approved]} == {e["event_id"] for e in events[1:]}
    assert [r["event_id"] for r in got[topics.rejected]] == [events[0]["event_id"]]
    assert got[topics.approvals] == []

    # One disagreement per tool call, exactly once, ids and rules only.
    raw = [r async for r in _raw(settings, topics.policy_shadow)]
    shadow = [codec.decode("ShadowDisagreement", v) for v in raw]
    assert sorted(r["event_id"] for r in shadow) == sorted(tools)
    by_id = {r["event_id"]: r for r in shadow}
    assert (
        by_id[events[0]["event_id"]]["live_rule"],
        by_id[events[0]["event_id"]]["live_outcome"],
    ) == (
        "secret-found",
        "deny",
    )
    for eid in tools - {events[0]["event_id"]}:
        rec = by_id[eid]
        assert (rec["live_outcome"], rec["live_rule"]) == ("allow", "routine-tools")
        assert (rec["candidate_outcome"], rec["candidate_rule"]) == ("hold", "tools-reviewed")
    for value in raw:
        assert AWS.encode() not in value and CANARY.encode() not in value
    assert 'sluice_shadow_disagreements_total{candidate="hold",live="allow"} 5.0' in metrics
    assert 'sluice_shadow_disagreements_total{candidate="hold",live="deny"} 1.0' in metrics
    assert "sluice_shadow_events_total 10.0" in metrics

    # Offline: the same change from the stored history (outcome topics + audit trail).
    cli_env = {"SLUICE_TOPIC_PREFIX": sluice_env["SLUICE_TOPIC_PREFIX"]}
    args = (
        "policy",
        "diff",
        str(cand),
        "--since",
        "1h",
        "--bootstrap-servers",
        settings.bootstrap_servers,
    )
    done = run_sluice(cli_env, *args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["replayed"], report["changed"], report["audited"]) == (10, 6, 10)
    assert report["not_replayable"] == 0
    assert report["effects"]["newly_held"] == 6
    rows = {(r["live_rule"], r["candidate_rule"]): r["events"] for r in report["rows"]}
    assert rows == {("routine-tools", "tools-reviewed"): 5, ("secret-found", "tools-reviewed"): 1}


async def _raw(settings: Settings, topic: str) -> AsyncIterator[bytes]:
    async for rec in read_topic(settings, topic):
        assert rec.value is not None
        yield rec.value
