"""Quarantine (kill switch) end to end against the real Apache Kafka.

Engaged by a signed control while events stream: the quarantined actor's next events are
held under rule ``quarantine`` (publish → first held latency printed, not asserted),
other actors pass; a forged control is refused; one lift vote does not lift; the second
distinct security vote does, and the actor's events pass again. Re-engaged in reject
mode with ``--include-open-holds``, the actor's holds still open are rejected too. Metrics and audit
records follow each step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.clock import now_ms
from sluice.codec import default_codec
from sluice.gate.signatures import write_private_key
from sluice.kafka import make_producer, read_topic
from sluice.quarantine.client import (
    add_quarantine,
    lift_quarantine,
    read_controls,
    reject_open_holds,
)
from sluice.quarantine.records import build_control, control_key, encode_control, sign_control
from sluice.tools.bench.events import make_events
from tests.helpers import (
    WorkerProcess,
    collect,
    reviewers_data,
    settings_from_env,
    topics_for,
    wait_for_count,
)

pytestmark = pytest.mark.integration

POLICY = """
rules: []
default:
  allow: {}
controls:
  quarantine:
    add: {roles: [security]}
    lift: {roles: [security], approvals: 2}
    hold: {roles: [security], approvals: 1, ttl: 1h}
"""
ROLES = {"sec1": ["security"], "sec2": ["security"], "fin": ["finance"]}


def _ms(value: Any) -> int:
    """A timestamp-millis field as epoch ms (fastavro may give a datetime)."""
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_quarantine_engaged_holds_next_events_and_two_votes_lift_it(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    keys = {rid: Ed25519PrivateKey.generate() for rid in ROLES}
    (tmp_path / "reviewers.yaml").write_text(yaml.safe_dump(reviewers_data(keys, ROLES)))
    (tmp_path / "policy.yaml").write_text(POLICY)
    key_files = {}
    for rid, key in keys.items():
        key_files[rid] = tmp_path / f"{rid}.key"
        write_private_key(key_files[rid], rid, f"{rid}-k1", key)
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(tmp_path / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    settings = settings_from_env(env).model_copy(
        update={
            "reviewers_file": tmp_path / "reviewers.yaml",
            "policy_file": tmp_path / "policy.yaml",
        }
    )
    topics = topics_for(env)
    codec = default_codec()
    events = make_events(2000, held_share=0.0, seed=5, now_ms=now_ms())
    feed = iter(events)

    def next_event(actor: str) -> dict[str, Any]:
        ev = next(feed)
        ev["actor"] = {"id": actor, "type": "AGENT", "roles": []}
        return ev

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    producer = make_producer(settings, linger_ms=0)
    await producer.start()

    async def send(ev: dict[str, Any]) -> None:
        await producer.send_and_wait(
            topics.events, codec.encode("WorkflowEvent", ev), key=ev["run_id"].encode()
        )

    try:
        assert worker.wait_ready(), "worker not ready"
        await send(next_event("agent-a"))
        await wait_for_count(settings, [topics.approved], 1)

        control = await add_quarantine(
            "actor", "agent-a", reason="runaway loop", key=key_files["sec1"], settings=settings
        )
        qid = control["quarantine_id"]
        # Stream both actors until a quarantine hold shows up.
        sent: dict[str, list[str]] = {"agent-a": [], "agent-b": []}
        held: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not held:
            assert time.monotonic() < deadline, "no event was held by the quarantine"
            for _ in range(10):
                for actor in ("AGENT-A", "agent-b"):  # a case variant of the actor too
                    ev = next_event(actor)
                    sent[actor.lower()].append(ev["event_id"])
                    await send(ev)
                await asyncio.sleep(0.02)
            held = [
                h for h in await collect(settings, topics.approvals) if h["rule"] == "quarantine"
            ]
        (published,) = [
            rec.timestamp
            async for rec in read_topic(settings, topics.controls)
            if rec.key == control_key(control)
        ]
        first = min(_ms(h["held_at"]) for h in held)
        print(f"\nquarantine latency publish->first held: {first - published} ms")

        assert all(h["actor_id"] == "AGENT-A" and "runaway loop" in h["reason"] for h in held)
        assert held[0]["roles"] == ["security"]
        got = await wait_for_count(settings, [topics.approved], 1 + len(sent["agent-b"]))
        approved = got[topics.approved]
        assert set(sent["agent-b"]) <= {o["event_id"] for o in approved}, "others pass"
        late = [
            o
            for o in approved
            if o["event_id"] in set(sent["agent-a"]) and _ms(o["decided_at"]) > first
        ]
        assert not late, "an event of the quarantined actor passed after the first hold"
        assert worker.metric("sluice_quarantined_subjects", subject="actor") == 1
        assert worker.metric("sluice_quarantine_events_total", action="held", subject="actor") >= 1

        # A forged control (finance has no quarantine role): refused, counted.
        forged = build_control(
            action="lift",
            quarantine_id=qid,
            subject_type="actor",
            subject="agent-a",
            reviewer_id="fin",
            key_id="fin-k1",
            reason="let me out",
        )
        sign_control(forged, keys["fin"])
        await producer.send_and_wait(
            topics.controls, encode_control(forged), key=control_key(forged), partition=0
        )

        # One lift vote: counted, not lifted.
        await lift_quarantine(qid, key=key_files["sec1"], settings=settings)

        async def one_vote() -> bool:
            return worker.metric("sluice_controls_total", result="lift_counted") >= 1

        await _until(one_vote, "the first lift vote")
        assert worker.metric("sluice_controls_total", result="refused", reason="wrong_role") == 1
        probe = next_event("agent-a")
        await send(probe)

        async def probe_held() -> bool:
            return any(
                h["event_id"] == probe["event_id"]
                for h in await collect(settings, topics.approvals)
            )

        await _until(probe_held, "the probe to be held")
        listed = (await read_controls(settings)).in_force()
        assert [(q.id, sorted(q.lift_votes)) for q in listed] == [(qid, ["sec1"])]

        # The second distinct security vote lifts it; the actor's events pass again.
        await lift_quarantine(qid, key=key_files["sec2"], settings=settings)

        async def lifted() -> bool:
            return worker.metric("sluice_quarantined_subjects", subject="actor") == 0

        await _until(lifted, "the lift")
        after = next_event("agent-a")
        await send(after)

        async def passed() -> bool:
            return any(
                o["event_id"] == after["event_id"] for o in await collect(settings, topics.approved)
            )

        await _until(passed, "the actor's event to pass after the lift")
        assert not (await read_controls(settings)).in_force()

        async def audited() -> bool:
            recs = [a for a in await collect(settings, topics.audit) if a["rule"] == "quarantine"]
            return {"quarantine_added", "quarantine_lifted", "control_refused"} <= {
                a["transition"] for a in recs
            }

        await _until(audited, "the controls' audit records")

        # Re-engaged in reject mode with --include-open-holds: the actor's holds still open
        # at the gate are rejected by the signer's REJECT decisions, new events at intake.
        again = await add_quarantine(
            "actor",
            "agent-a",
            reason="again",
            key=key_files["sec1"],
            mode="reject",
            settings=settings,
        )
        open_ids = set(await reject_open_holds(again, key=key_files["sec1"], settings=settings))
        assert {h["event_id"] for h in held} <= open_ids

        async def refused_new() -> bool:
            return worker.metric("sluice_quarantined_subjects", subject="actor") == 1

        await _until(refused_new, "the second quarantine")
        last = next_event("agent-a")
        await send(last)

        async def all_rejected() -> bool:
            rejected = {o["event_id"]: o for o in await collect(settings, topics.rejected)}
            return open_ids | {last["event_id"]} <= set(rejected)

        await _until(all_rejected, "the open holds and the new event to be rejected")
        rejected = {o["event_id"]: o for o in await collect(settings, topics.rejected)}
        assert rejected[last["event_id"]]["rule"] == "quarantine"
        assert all(rejected[e]["source"] == "REVIEWER" for e in open_ids)
    finally:
        await producer.stop()
        worker.stop()
