"""Rebalance: a second worker joins mid-stream, then the first stops. Held events and
pending expiry timers move with their partitions; nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from sluice.tools.bench.events import make_events
from sluice.tools.chaos.accounting import settle
from sluice.tools.chaos.load import DecisionBot, encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle
from sluice.tools.chaos.scenario import prepare

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


async def test_join_then_leave_moves_held_state(sluice_env: dict[str, str], tmp_path: Path) -> None:
    scn = prepare(sluice_env, tmp_path / "chaos", short_ttl_s=12)
    now = time.time_ns() // 1_000_000
    evs = make_events(1500, held_share=0.06, seed=31, now_ms=now)
    code_publish = [e["event_id"] for e in evs if e["kind"] == "CODE_PUBLISH"]
    short = [
        e["event_id"]
        for e in evs
        if e["kind"] != "CODE_PUBLISH" and e["data_classification"] == "CONFIDENTIAL"
    ]
    w1 = WorkerHandle(scn.env, tmp_path / "w1.log", worker_id="reb-w1")
    w2 = WorkerHandle(scn.env, tmp_path / "w2.log", worker_id="reb-w2")
    w1.start()
    assert await asyncio.to_thread(w1.wait_ready, 60)
    stop = asyncio.Event()
    bot_task: asyncio.Task[None] | None = None
    bot = DecisionBot(scn, approve_share=0.6, duplicate_share=0.3, seed=4)
    try:
        producing = asyncio.create_task(
            pace(scn.settings, scn.topics.events, encode_events(evs), 150)
        )
        await asyncio.sleep(3)
        await asyncio.to_thread(w2.start)  # joins the group mid-stream
        assert await asyncio.to_thread(w2.wait_ready, 60)
        await producing
        # Holds (long ones and 12 s ones with pending timers) sit on both workers now.
        assert w1.stop() == 0  # graceful: leaves the group, w2 takes every partition
        assert await asyncio.to_thread(w2.wait_ready, 60)
        # Decisions only now: w2 must have restored w1's held events to apply them.
        bot_task = asyncio.create_task(bot.run(stop))
        acc, snap = await settle(
            scn,
            [e["event_id"] for e in evs],
            must_release=set(code_publish) | set(short),
            within_s=60,
        )
        expired_on_w2 = w2.metric("sluice_decisions_total", source="expiry")
        reviewed_on_w2 = w2.metric("sluice_decisions_total", source="reviewer")
    finally:
        stop.set()
        w1.stop()
        w2.stop()
    if bot_task is not None:
        await bot_task
    print(
        "\nrebalance:",
        json.dumps(
            {
                **acc.as_dict(),
                "short_holds": len(short),
                "expired_on_w2": expired_on_w2,
                "decided": len(bot.sent),
                "reviewed_on_w2": reviewed_on_w2,
            }
        ),
    )
    assert acc.ok and acc.accounted == len(evs), acc.as_dict()
    assert acc.still_held == 0 and acc.released_from_hold == len(code_publish) + len(short)
    assert set(bot.sent) == set(code_publish)
    # Every reviewer decision was applied by the new owner, once.
    assert reviewed_on_w2 == len(code_publish)
    by_source: dict[str, int] = {}
    for eid, source in snap.rejected + snap.approved:
        if eid in set(short):
            by_source[source] = by_source.get(source, 0) + 1
    assert by_source == {"EXPIRY": len(short)}, by_source
    # Timers moved: at least the holds taken in the last 12 s before w1 left expired on w2.
    assert expired_on_w2 >= 1
