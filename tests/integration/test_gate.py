"""The approval gate end to end against the real Apache Kafka.

Quorum release, one-reject rejection, expiry by the timer, and every refusal reason:
each refused decision is counted and never applied; each release happens once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.codec import default_codec
from sluice.gate.signatures import build_decision, sign_decision
from sluice.tools.bench.events import make_events
from sluice.tools.chaos.scenario import Scenario
from tests.helpers import (
    WorkerProcess,
    collect,
    produce,
    reviewers_data,
    settings_from_env,
    topics_for,
    wait_for_count,
)

pytestmark = pytest.mark.integration

POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, ttl: 1h, on_expiry: reject}
  - name: confidential-short
    when: event.data_classification == "CONFIDENTIAL"
    hold: {roles: [security], approvals: 1, ttl: 4s, on_expiry: reject}
default:
  allow: {}
"""

REVIEWERS = {  # id → roles
    "carol": ["release-manager"],
    "erin": ["release-manager"],
    "frank": ["release-manager"],
    "sec": ["security"],
    "mallory": ["finance"],
    "dave": ["release-manager"],  # the events' on_behalf_of
    "agent-1": ["release-manager"],  # the events' actor
    "rev": ["release-manager"],  # revoked key
    "stew": ["data-steward"],
}


def _keys() -> tuple[dict[str, Ed25519PrivateKey], dict[str, Any]]:
    keys = {rid: Ed25519PrivateKey.generate() for rid in REVIEWERS}
    return keys, reviewers_data(keys, REVIEWERS, revoked={"rev"})


def _refused(metrics: str) -> dict[str, float]:
    out = {}
    for line in metrics.splitlines():
        if line.startswith("sluice_decisions_refused_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


async def test_quorum_reject_expiry_and_refusals(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    # Signed decisions as the chaos tooling makes them (key ids "<reviewer>-k1").
    env, settings, topics, scn = await _setup(sluice_env, tmp_path, POLICY)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    base = make_events(3, held_share=0.0, seed=11, now_ms=now)
    publish, reject_me, confidential = base
    for ev in (publish, reject_me):
        ev.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
    for ev in base:
        ev["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
        ev["on_behalf_of"] = "dave"
    confidential.update(kind="DATA_ACCESS", data_classification="CONFIDENTIAL")

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await produce(
            settings,
            topics.events,
            [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in base],
        )
        got = await wait_for_count(settings, [topics.approvals], 3)
        held = {r["event_id"]: r for r in got[topics.approvals]}
        assert set(held) == {e["event_id"] for e in base}
        h1, h2, h3 = (
            held[publish["event_id"]],
            held[reject_me["event_id"]],
            held[confidential["event_id"]],
        )

        replayed = scn.decision(h1, "carol")
        bad: list[bytes] = [
            scn.decision(h1, "carol", signer="erin"),  # bad_signature
            scn.decision(h1, "mallory"),  # wrong_role
            scn.decision(h1, "dave"),  # self_approval (on_behalf_of)
            scn.decision(h1, "agent-1"),  # self_approval (actor)
            scn.decision(h1, "frank", content_hash="0" * 64),  # content_mismatch
            scn.decision(h1, "rev"),  # revoked_key
            scn.decision(h2, "frank", "REJECT", reason=""),  # missing_reason
        ]
        unknown = build_decision(
            event_id=h1["event_id"],
            verdict="APPROVE",
            reviewer_id="zed",
            key_id="zed-k1",
            content_hash=h1["content_hash"],
        )
        unknown["signature"] = sign_decision(unknown, scn.keys["carol"])
        bad.append(codec.encode("Decision", unknown))  # unknown_reviewer
        stream = [(default_codec().decode("Decision", d)["event_id"].encode(), d) for d in bad]
        stream += [(b"not-the-event-id", scn.decision(h1, "frank"))]  # malformed: misrouted
        stream += [
            (h1["event_id"].encode(), replayed),
            (h1["event_id"].encode(), replayed),
        ]  # replay
        stream += [(h1["event_id"].encode(), scn.decision(h1, "carol"))]  # duplicate_vote
        stream += [
            (h2["event_id"].encode(), scn.decision(h2, "frank", "REJECT", reason="not today"))
        ]
        await produce(settings, topics.decisions, stream)
        await asyncio.sleep(3)
        mid = await collect(settings, topics.approved)
        assert not [r for r in mid if r["event_id"] == h1["event_id"]], (
            "one valid approval must not release"
        )
        await produce(
            settings, topics.decisions, [(h1["event_id"].encode(), scn.decision(h1, "erin"))]
        )
        # The confidential hold expires after 4 s; a decision after that is refused.
        await asyncio.sleep(5)
        await produce(
            settings, topics.decisions, [(h3["event_id"].encode(), scn.decision(h3, "sec"))]
        )
        # A second approval after release is refused, not applied.
        await produce(
            settings, topics.decisions, [(h1["event_id"].encode(), scn.decision(h1, "frank"))]
        )
        out = await wait_for_count(settings, [topics.approved, topics.rejected], 3)
        await asyncio.sleep(2)
        out = {t: await collect(settings, t) for t in (topics.approved, topics.rejected)}
        metrics = worker.metrics_text()
    finally:
        assert worker.stop() == 0

    approved = out[topics.approved]
    rejected = out[topics.rejected]
    assert [r["event_id"] for r in approved] == [h1["event_id"]], "released exactly once"
    assert approved[0]["source"] == "REVIEWER" and approved[0]["reviewers"] == ["carol", "erin"]
    by_id = {r["event_id"]: r for r in rejected}
    assert len(rejected) == 2 and set(by_id) == {h2["event_id"], h3["event_id"]}
    assert by_id[h2["event_id"]]["source"] == "REVIEWER"
    assert by_id[h3["event_id"]]["source"] == "EXPIRY"
    refused = _refused(metrics)
    for reason in (
        "bad_signature",
        "wrong_role",
        "content_mismatch",
        "revoked_key",
        "missing_reason",
        "unknown_reviewer",
        "replay",
        "duplicate_vote",
        "malformed",
    ):
        assert refused.get(reason, 0) >= 1, (reason, refused)
    assert refused["self_approval"] == 2
    assert refused.get("expired", 0) + refused.get("already_decided", 0) >= 2
    assert 'sluice_decisions_total{source="expiry",verdict="reject"} 1.0' in metrics
    assert 'sluice_decisions_total{source="reviewer",verdict="approve"} 1.0' in metrics
    audit = await collect(settings, topics.audit)
    transitions = [r["transition"] for r in audit if r.get("event_id") == h1["event_id"]]
    assert "held" in transitions and "approved" in transitions and "decision_refused" in transitions


HARDENING_POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, ttl: 1h, on_expiry: reject}
  - name: confidential-escalate
    when: event.data_classification == "CONFIDENTIAL"
    hold:
      roles: [release-manager]
      approvals: 2
      ttl: 6s
      on_expiry: escalate
      escalate: {roles: [release-manager, security], ttl: 1h}
default:
  allow: {}
"""


def _metric(metrics: str, prefix: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _setup(
    sluice_env: dict[str, str], tmp_path: Path, policy: str = HARDENING_POLICY
) -> tuple[dict[str, str], Any, Any, Scenario]:
    """A worker environment with the test reviewers and ``policy``, and its scenario."""
    keys, registry = _keys()
    (tmp_path / "reviewers.yaml").write_text(yaml.safe_dump(registry))
    (tmp_path / "policy.yaml").write_text(policy)
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(tmp_path / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    settings = settings_from_env(env)
    topics = topics_for(env)
    scn = Scenario(env=env, settings=settings, topics=topics, workdir=tmp_path, keys=keys)
    return env, settings, topics, scn


async def test_different_body_under_held_event_id_is_rejected_never_released(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    """Critical: a re-sent event_id with other content neither joins nor replaces the hold.

    Attacker: approve the first body once, re-send the id with another body, sign the
    second approval over the second HeldEvent, then over the first.
    """
    env, settings, topics, scn = await _setup(sluice_env, tmp_path)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    (first,) = make_events(1, held_share=0.0, seed=21, now_ms=now)
    first.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
    first["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
    first["on_behalf_of"] = "dave"
    other = {**first, "content": "publish the attacker's build instead", "resource": "repo://x"}
    eid = first["event_id"]
    key = first["run_id"].encode()

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await produce(settings, topics.events, [(key, codec.encode("WorkflowEvent", first))])
        h1 = (await wait_for_count(settings, [topics.approvals], 1))[topics.approvals][0]
        await produce(settings, topics.decisions, [(eid.encode(), scn.decision(h1, "carol"))])
        await produce(settings, topics.events, [(key, codec.encode("WorkflowEvent", other))])
        got = await wait_for_count(settings, [topics.approvals, topics.rejected], 3)
        h2 = next(h for h in got[topics.approvals] if h["content_hash"] != h1["content_hash"])
        dup = got[topics.rejected]
        assert len(dup) == 1 and dup[0]["reason_code"] == "duplicate_event_id"
        assert dup[0]["event"] == h2["event"], "the rejected Outcome carries the NEW body"
        # An identical re-send: audited, never a second hold or a later expiry.
        await produce(settings, topics.events, [(key, codec.encode("WorkflowEvent", first))])
        # The attacker's approval over the second body is refused...
        await produce(settings, topics.decisions, [(eid.encode(), scn.decision(h2, "erin"))])
        await asyncio.sleep(3)
        assert not await collect(settings, topics.approved), "one valid approval must not release"
        # ...and a second approval over the first body releases the FIRST body.
        await produce(settings, topics.decisions, [(eid.encode(), scn.decision(h1, "frank"))])
        out = await wait_for_count(settings, [topics.approved], 1)
        await asyncio.sleep(2)
        metrics = worker.metrics_text()
        audit = await collect(settings, topics.audit)
        rejected = await collect(settings, topics.rejected)
    finally:
        assert worker.stop() == 0

    approved = out[topics.approved]
    assert len(approved) == 1 and approved[0]["event_id"] == eid
    assert approved[0]["event"] == h1["event"] and approved[0]["content_hash"] == h1["content_hash"]
    assert hashlib.sha256(approved[0]["event"]).hexdigest() == h1["content_hash"]
    assert approved[0]["reviewers"] == ["carol", "frank"]
    assert len(rejected) == 1, "the identical re-send adds no outcome"
    assert _metric(metrics, 'sluice_held_refused_total{reason="duplicate_event_id"}') == 1
    assert _refused(metrics).get("content_mismatch") == 1
    gate = [r for r in audit if r.get("event_id") == eid and r["stage"] == "gate"]
    codes = [(r["transition"], r.get("reason_code")) for r in gate]
    assert ("held_refused", "duplicate_event_id") in codes
    assert ("held_resent", "same_content") in codes
    assert [t for t, _ in codes].count("held") == 1


async def test_escalation_is_the_gates_own_and_counts_its_own_votes(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    """Escalation happens by the clock; the republished HeldEvent, read back, changes
    nothing; a phase-1 vote does not count in phase 2 (no carry-over by default)."""
    env, settings, topics, scn = await _setup(sluice_env, tmp_path)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    (ev,) = make_events(1, held_share=0.0, seed=23, now_ms=now)
    ev.update(kind="DATA_ACCESS", data_classification="CONFIDENTIAL")
    ev["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
    ev["on_behalf_of"] = "dave"
    eid = ev["event_id"]

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await produce(
            settings, topics.events, [(ev["run_id"].encode(), codec.encode("WorkflowEvent", ev))]
        )
        h1 = (await wait_for_count(settings, [topics.approvals], 1))[topics.approvals][0]
        await produce(settings, topics.decisions, [(eid.encode(), scn.decision(h1, "carol"))])
        held = (await wait_for_count(settings, [topics.approvals], 2, timeout=60))[topics.approvals]
        assert len(held) == 2, "escalated after the 6 s phase"
        h2 = held[1]
        assert h2["content_hash"] == h1["content_hash"] and h2["event"] == h1["event"]
        assert sorted(h2["roles"]) == ["release-manager", "security"]
        assert h2["expires_at"] > h1["expires_at"]
        # Phase 2 needs two approvals of its own: carol's phase-1 vote is not one.
        await produce(settings, topics.decisions, [(eid.encode(), scn.decision(h2, "sec"))])
        await asyncio.sleep(3)
        assert not await collect(settings, topics.approved), "phase-1 votes must not carry"
        await produce(settings, topics.decisions, [(eid.encode(), scn.decision(h2, "erin"))])
        out = await wait_for_count(settings, [topics.approved], 1)
        await asyncio.sleep(2)
        audit = await collect(settings, topics.audit)
        all_held = await collect(settings, topics.approvals)
    finally:
        assert worker.stop() == 0

    approved = out[topics.approved]
    assert len(approved) == 1 and approved[0]["reviewers"] == ["erin", "sec"]
    assert approved[0]["content_hash"] == h1["content_hash"]
    assert len(all_held) == 2, "the read-back republish did not escalate again"
    gate = [r for r in audit if r.get("event_id") == eid and r["stage"] == "gate"]
    transitions = [r["transition"] for r in gate]
    assert transitions.count("escalated") == 1 and transitions.count("held") == 1
    assert "held_resent" in transitions  # the republish, read back: audited no-op


async def test_per_role_levels_and_decided_at_bounds_against_the_broker(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    """A hold needing a data steward (level 1) then security (level 2): a security
    approval before level 1 is complete is refused as level_pending; a vote dated in
    the future is refused; the release names both reviewers."""
    env, settings, topics, scn = await _setup(sluice_env, tmp_path)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    (ev,) = make_events(1, held_share=0.0, seed=29, now_ms=now)
    body = codec.encode("WorkflowEvent", ev)
    eid = ev["event_id"]
    held_event = {
        "event_id": eid,
        "run_id": ev["run_id"],
        "workflow_id": ev["workflow_id"],
        "kind": ev["kind"],
        "actor_id": ev["actor"]["id"],
        "on_behalf_of": ev["on_behalf_of"],
        "trace_id": ev["trace_id"],
        "event": body,
        "content_hash": hashlib.sha256(body).hexdigest(),
        "findings": [],
        "rule": "restricted-data",
        "policy_hash": "0" * 64,
        "reason": None,
        "risk_score": 0.5,
        "roles": ["data-steward", "security"],
        "approvals": 2,
        "on_expiry": "REJECT",
        "escalate_roles": [],
        "escalate_ttl_ms": 0,
        "requirements": [
            {"role": "data-steward", "count": 1, "level": 1},
            {"role": "security", "count": 1, "level": 2},
        ],
        "escalate_approvals": 0,
        "escalate_requirements": [],
        "escalate_carry_votes": False,
        "producer_key_id": None,
        "received_at": now,
        "held_at": now,
        "expires_at": now + 3_600_000,
    }
    future = build_decision(
        event_id=eid,
        verdict="APPROVE",
        reviewer_id="stew",
        key_id="stew-k1",
        content_hash=held_event["content_hash"],
        decided_at=now + 3_600_000,
    )
    future["signature"] = sign_decision(future, scn.keys["stew"])
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await produce(
            settings, topics.approvals, [(eid.encode(), codec.encode("HeldEvent", held_event))]
        )
        k = eid.encode()
        await produce(
            settings,
            topics.decisions,
            [
                (k, scn.decision(held_event, "sec")),  # level_pending
                (k, codec.encode("Decision", future)),  # decided_in_future
                (k, scn.decision(held_event, "stew")),  # level 1 complete
            ],
        )
        await asyncio.sleep(3)
        assert not await collect(settings, topics.approved)
        await produce(settings, topics.decisions, [(k, scn.decision(held_event, "sec"))])
        out = await wait_for_count(settings, [topics.approved], 1)
        await asyncio.sleep(1)
        metrics = worker.metrics_text()
    finally:
        assert worker.stop() == 0
    approved = out[topics.approved]
    assert len(approved) == 1 and approved[0]["reviewers"] == ["sec", "stew"]
    refused = _refused(metrics)
    assert refused.get("level_pending") == 1 and refused.get("decided_in_future") == 1
