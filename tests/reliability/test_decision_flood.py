"""Hostile decisions at volume: forged, replayed and self-approving decisions flood the
gate; every one is refused and counted, valid ones are still applied exactly once.

Prints decision→release p99 with and without the flood (a figure, not an assertion).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

import pytest

from sluice.codec import default_codec
from sluice.kafka import read_topic
from sluice.tools.bench.events import make_events
from sluice.tools.chaos.accounting import settle
from sluice.tools.chaos.load import encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle
from sluice.tools.chaos.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

N_HELD = 80  # half decided without flood, half inside it
N_HOSTILE = 2000


def _p99(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]


async def _held(scn: Scenario, n: int) -> list[dict[str, Any]]:
    codec = default_codec()
    deadline = time.monotonic() + 60
    while True:
        held = [
            codec.decode("HeldEvent", r.value)
            async for r in read_topic(scn.settings, scn.topics.approvals)
        ]
        if len(held) >= n or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.5)


async def test_decision_flood_refused_and_counted(scenario: Scenario) -> None:
    scn = scenario
    now = time.time_ns() // 1_000_000
    evs = make_events(N_HELD, held_share=1.0, seed=3, now_ms=now)
    for ev in evs:
        ev.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
        ev["actor"] = {
            "id": "rm2",
            "type": "AGENT",
            "roles": [],
        }  # rm2 is the actor: self-approval bait
    worker = WorkerHandle(scn.env, scn.workdir / "worker.log", worker_id="flood-w0")
    worker.start()
    try:
        await pace(scn.settings, scn.topics.events, encode_events(evs), rate=5000)
        held = {h["event_id"]: h for h in await _held(scn, N_HELD)}
        assert len(held) == N_HELD
        ids = sorted(held)
        calm, stormy = ids[: N_HELD // 2], ids[N_HELD // 2 :]
        valid: dict[str, bytes] = {}  # decision_id → encoded valid decision
        valid_for: dict[str, str] = {}  # event_id → its valid decision_id
        for eid in ids:
            did = str(uuid.uuid4())
            valid[did] = scn.decision(held[eid], "rm1", decision_id=did)
            valid_for[eid] = did

        # 1. Without flood: one valid approval each, as reviewers would send them.
        for eid in calm:
            await pace(
                scn.settings, scn.topics.decisions, [(eid.encode(), valid[valid_for[eid]])], 1000
            )
        # 2. The flood: hostile decisions against every held event, valid ones mixed in.
        rng = random.Random(5)
        kinds = dict.fromkeys(
            ("bad_signature", "self_approval", "wrong_role", "replay", "unknown_reviewer"), 0
        )
        replayed = valid[valid_for[calm[0]]]  # counted already: re-sent verbatim
        stream: list[tuple[bytes | None, bytes | None]] = []
        step = N_HOSTILE // len(stormy)
        for i in range(N_HOSTILE):
            if i % step == step // 2 and i // step < len(stormy):
                eid = stormy[i // step]
                stream.append((eid.encode(), valid[valid_for[eid]]))
            eid = rng.choice(ids)
            kind = rng.choice(sorted(kinds))
            kinds[kind] += 1
            h = held[eid]
            if kind == "bad_signature":
                value = scn.decision(h, "rm1", signer="mallory")
            elif kind == "self_approval":
                value = scn.decision(h, "rm2")  # rm2 is the events' actor
            elif kind == "wrong_role":
                value = scn.decision(h, "mallory")
            elif kind == "unknown_reviewer":
                value = scn.decision(h, "zz9", signer="rm1")
            else:
                eid, value = calm[0], replayed
            stream.append((eid.encode(), value))
        assert sum(1 for _, v in stream if v in valid.values()) == len(stormy) + kinds["replay"]
        secs = await pace(scn.settings, scn.topics.decisions, stream, rate=4000)
        acc, snap = await settle(scn, [e["event_id"] for e in evs], must_release=ids, within_s=60)
        refused_total = worker.metric("sluice_decisions_refused_total")
        by_reason = {
            r: worker.metric("sluice_decisions_refused_total", reason=r)
            for r in (
                "bad_signature",
                "self_approval",
                "wrong_role",
                "replay",
                "unknown_reviewer",
                "already_decided",
                "unknown_key",
            )
        }
        approved_by_reviewer = worker.metric(
            "sluice_decisions_total", source="reviewer", verdict="approve"
        )
    finally:
        assert worker.stop() == 0
    assert acc.ok, acc.as_dict()
    assert acc.approved == N_HELD and acc.released_from_hold == N_HELD and acc.still_held == 0
    assert [s for _, s in snap.approved] == ["REVIEWER"] * N_HELD
    assert approved_by_reviewer == N_HELD
    # Every hostile decision refused and counted; none applied (no rejection, no double release).
    assert refused_total == N_HOSTILE, by_reason
    assert acc.rejected == 0 and not acc.released_twice
    # decision → release: the decision's broker append time (the topic uses LogAppendTime)
    # to the release's decided_at (both on this host's clock).
    appended: dict[str, int] = {}
    codec = default_codec()
    async for rec in read_topic(scn.settings, scn.topics.decisions):
        did = codec.decode("Decision", rec.value)["decision_id"]
        appended.setdefault(did, rec.timestamp)
    lat_calm = [snap.decided_at[e] - appended[valid_for[e]] for e in calm]
    lat_storm = [snap.decided_at[e] - appended[valid_for[e]] for e in stormy]
    figures = {
        "hostile": N_HOSTILE,
        "by_kind_sent": kinds,
        "refused_by_reason": by_reason,
        "flood_seconds": round(secs, 2),
        "p99_ms_without_flood": _p99(lat_calm),
        "p99_ms_under_flood": _p99(lat_storm),
        "p50_ms_without_flood": sorted(lat_calm)[len(lat_calm) // 2],
        "p50_ms_under_flood": sorted(lat_storm)[len(lat_storm) // 2],
    }
    print("\ndecision flood:", json.dumps(figures))
