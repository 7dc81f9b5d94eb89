"""The approval gate end to end against the real Apache Kafka.

Quorum release, one-reject rejection, expiry by the timer, and every refusal reason:
each refused decision is counted and never applied; each release happens once.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sluice.bench.events import make_events
from sluice.chaos import Scenario
from sluice.cli.review import build_decision
from sluice.codec import default_codec
from sluice.gate.signatures import sign_decision
from tests.helpers import (
    WorkerProcess,
    collect,
    produce,
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
}


def _keys() -> tuple[dict[str, Ed25519PrivateKey], dict[str, Any]]:
    keys = {rid: Ed25519PrivateKey.generate() for rid in REVIEWERS}
    registry = {
        "reviewers": [
            {
                "id": rid,
                "roles": roles,
                "keys": [
                    {
                        "id": f"{rid}-k1",
                        "public_key": base64.b64encode(
                            keys[rid].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                        ).decode(),
                        "revoked": rid == "rev",
                    }
                ],
            }
            for rid, roles in REVIEWERS.items()
        ]
    }
    return keys, registry


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
    keys, registry = _keys()
    (tmp_path / "reviewers.yaml").write_text(yaml.safe_dump(registry))
    (tmp_path / "policy.yaml").write_text(POLICY)
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(tmp_path / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    settings = settings_from_env(env)
    topics = topics_for(env)
    # Signed decisions as the chaos tooling makes them (key ids "<reviewer>-k1").
    scn = Scenario(env=env, settings=settings, topics=topics, workdir=tmp_path, keys=keys)
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
        unknown["signature"] = sign_decision(unknown, keys["carol"])
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
