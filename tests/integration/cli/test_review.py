"""The reviewer tool against the real local Kafka: keys, list, show, approve, reject.

Held events are produced to a fresh prefixed ``workflow.approvals`` as the intake
worker would; the tool must read the queue from the topics alone, and the decisions it
publishes must verify against the registry built from ``sluice keys new`` output.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.cli.main import main
from sluice.codec import default_codec
from sluice.gate.reviewers import load_registry
from sluice.kafka import create_topics, make_producer, read_topic
from sluice.settings import load_settings
from sluice.topics import Topics

pytestmark = pytest.mark.integration

HOUR_MS = 3600 * 1000


def workflow_event(actor: str = "agent-7", kind: str = "CODE_PUBLISH") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "workflow_id": "wf-release",
        "run_id": f"run-{uuid.uuid4().hex[:8]}",
        "step": "publish",
        "kind": kind,
        "actor": {"id": actor, "type": "AGENT", "roles": ["builder"]},
        "action": "git.push",
        "data_classification": "INTERNAL",
        "occurred_at": int(time.time() * 1000),
        "on_behalf_of": "dana",
        "resource": "repo:payments",
        "content": "diff --git a/x b/x [REDACTED:secret:0a1b2c3d]",
        "arguments": {"branch": "main"},
        "model": None,
        "confidence": 0.9,
        "cost_usd": 0.01,
        "trace_id": None,
        "attributes": {},
    }


def held_event(
    event: dict[str, Any], *, roles: list[str], held_at: int, ttl_ms: int
) -> dict[str, Any]:
    raw = default_codec().encode("WorkflowEvent", event)
    return {
        "event_id": event["event_id"],
        "run_id": event["run_id"],
        "workflow_id": event["workflow_id"],
        "kind": event["kind"],
        "actor_id": event["actor"]["id"],
        "on_behalf_of": event["on_behalf_of"],
        "trace_id": None,
        "event": raw,
        "content_hash": hashlib.sha256(raw).hexdigest(),
        "findings": [
            {
                "kind": "secret",
                "detector": "github_token",
                "field": "content",
                "start": 25,
                "end": 65,
                "severity": "high",
                "confidence": 0.99,
                "fingerprint": "0a1b2c3d",
                "action": "redacted",
            }
        ],
        "rule": "code-publish",
        "policy_hash": "p" * 64,
        "reason": None,
        "risk_score": 0.8,
        "roles": roles,
        "approvals": 2,
        "on_expiry": "REJECT",
        "escalate_roles": [],
        "escalate_ttl_ms": 0,
        "received_at": held_at - 5,
        "held_at": held_at,
        "expires_at": held_at + ttl_ms,
    }


def outcome(held: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": held["event_id"],
        "run_id": held["run_id"],
        "workflow_id": held["workflow_id"],
        "kind": held["kind"],
        "trace_id": None,
        "outcome": "APPROVED",
        "source": "REVIEWER",
        "rule": held["rule"],
        "policy_hash": held["policy_hash"],
        "reason": None,
        "reviewers": ["x", "y"],
        "findings": [],
        "event": held["event"],
        "content_hash": held["content_hash"],
        "received_at": held["received_at"],
        "decided_at": held["held_at"] + 1,
    }


async def produce(records: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    """(topic, schema name, key, record) → Kafka, acks=all."""
    settings = load_settings()
    codec = default_codec()
    producer = make_producer(settings)
    await producer.start()
    try:
        for topic, name, key, record in records:
            await producer.send_and_wait(topic, codec.encode(name, record), key=key.encode())
    finally:
        await producer.stop()


async def read_decisions() -> list[tuple[bytes | None, dict[str, Any]]]:
    settings = load_settings()
    topic = Topics.with_prefix(settings.topic_prefix).decisions
    return [
        (rec.key, default_codec().decode("Decision", rec.value))
        async for rec in read_topic(settings, topic, timeout_s=20)
    ]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_review_walkthrough(
    sluice_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_settings()
    topics = Topics.with_prefix(settings.topic_prefix)
    asyncio.run(create_topics(settings))

    now = int(time.time() * 1000)
    ev_old = workflow_event()
    ev_new = workflow_event(actor="agent-9", kind="MODEL_DEPLOY")
    ev_fin = workflow_event(kind="RECORD_UPDATE")
    ev_done = workflow_event()
    ev_expired = workflow_event()
    h_old = held_event(
        ev_old, roles=["release-manager", "security"], held_at=now - 60_000, ttl_ms=HOUR_MS
    )
    h_new = held_event(ev_new, roles=["security"], held_at=now - 1_000, ttl_ms=HOUR_MS)
    h_fin = held_event(ev_fin, roles=["finance"], held_at=now - 30_000, ttl_ms=HOUR_MS)
    h_done = held_event(ev_done, roles=["security"], held_at=now - 90_000, ttl_ms=HOUR_MS)
    h_expired = held_event(
        ev_expired, roles=["security"], held_at=now - 2 * HOUR_MS, ttl_ms=HOUR_MS
    )
    asyncio.run(
        produce(
            [
                (topics.approvals, "HeldEvent", h["event_id"], h)
                for h in (h_new, h_fin, h_done, h_old, h_expired)
            ]
            + [(topics.approved, "Outcome", h_done["event_id"], outcome(h_done))]
        )
    )

    # Keys for two reviewers; their printed entries become the registry.
    entries = []
    for name in ("alice", "bob"):
        key_path = tmp_path / f"{name}.key"
        code, out, err = cli(
            capsys, "keys", "new", "--reviewer", name, "--out", str(key_path), "--role", "security"
        )
        assert code == 0, err
        entries += yaml.safe_load(out)
    registry_path = tmp_path / "reviewers.yaml"
    registry_path.write_text(yaml.safe_dump({"reviewers": entries}))
    monkeypatch.setenv("SLUICE_REVIEWERS_FILE", str(registry_path))
    registry = load_registry(registry_path)

    # list: oldest first, released one dropped, expired one marked.
    code, out, err = cli(capsys, "review", "list", "--json")
    assert code == 0, err
    queue = [json.loads(line) for line in out.splitlines()]
    assert [e["event_id"] for e in queue] == [
        h_expired["event_id"],
        h_old["event_id"],
        h_fin["event_id"],
        h_new["event_id"],
    ]
    assert [e["expired"] for e in queue] == [True, False, False, False]
    first = queue[1]
    assert first["rule"] == "code-publish"
    assert first["risk"] == {"score": 0.8, "kinds": {"secret": 1}, "detectors": ["github_token"]}
    assert first["approvals_required"] == 2 and first["approvals"] == 0 and first["votes"] == []
    assert 3500 < first["time_left_s"] <= 3600
    assert queue[0]["time_left_s"] == 0

    code, out, _ = cli(capsys, "review", "list", "--role", "finance", "--json")
    assert [json.loads(line)["event_id"] for line in out.splitlines()] == [h_fin["event_id"]]
    code, out, _ = cli(capsys, "review", "list")
    assert code == 0 and "EXPIRED" in out and "approvals=0/2" in out

    # show: the sanitized event, decoded, with findings and rule.
    code, out, err = cli(capsys, "review", "show", h_old["event_id"], "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["event"] == ev_old
    assert shown["findings"][0]["detector"] == "github_token"
    assert shown["rule"] == "code-publish" and shown["status"] == "held"
    code, out, _ = cli(capsys, "review", "show", h_old["event_id"])
    assert code == 0 and "code-publish" in out and "secret/github_token" in out

    # approve: a signed Decision bound to the held event's content hash.
    code, out, err = cli(
        capsys,
        "review",
        "approve",
        h_old["event_id"],
        "--key",
        str(tmp_path / "alice.key"),
        "--reason",
        "reviewed the diff",
    )
    assert code == 0, err
    decision_id = out.strip()
    assert str(uuid.UUID(decision_id)) == decision_id
    code, out, err = cli(
        capsys,
        "review",
        "reject",
        h_new["event_id"],
        "--key",
        str(tmp_path / "bob.key"),
        "--reason",
        "not now",
    )
    assert code == 0, err
    reject_id = out.strip()

    decisions = asyncio.run(read_decisions())
    by_id = {d["decision_id"]: (key, d) for key, d in decisions}
    key, approve = by_id[decision_id]
    assert key == h_old["event_id"].encode()
    assert approve["verdict"] == "APPROVE" and approve["reviewer_id"] == "alice"
    assert approve["content_hash"] == h_old["content_hash"]
    assert approve["reason"] == "reviewed the diff"
    assert abs(approve["decided_at"] - time.time() * 1000) < 10 * 60 * 1000
    assert registry.check(approve) is None
    assert registry.check({**approve, "event_id": h_new["event_id"]}) == "bad_signature"
    key, rej = by_id[reject_id]
    assert key == h_new["event_id"].encode() and rej["verdict"] == "REJECT"
    assert rej["reason"] == "not now" and registry.check(rej) is None

    # Votes so far show up in list and show, checked against the registry.
    code, out, _ = cli(capsys, "review", "list", "--json")
    queue = {json.loads(line)["event_id"]: json.loads(line) for line in out.splitlines()}
    votes = queue[h_old["event_id"]]["votes"]
    assert [(v["reviewer_id"], v["verdict"], v["valid"]) for v in votes] == [
        ("alice", "APPROVE", True)
    ]
    assert queue[h_old["event_id"]]["approvals"] == 1
    assert queue[h_new["event_id"]]["rejections"] == 1

    # Refusals: one line on stderr, exit 2, nothing published.
    alice_key = str(tmp_path / "alice.key")
    bad_cases = [
        (["review", "reject", h_fin["event_id"], "--key", alice_key], "reason"),
        (["review", "reject", h_fin["event_id"], "--key", alice_key, "--reason", "  "], "reason"),
        (["review", "approve", str(uuid.uuid4()), "--key", alice_key], "no held event"),
        (["review", "approve", "not-a-uuid", "--key", alice_key], "UUID"),
        (["review", "approve", h_done["event_id"], "--key", alice_key], "already approved"),
        (["review", "approve", h_expired["event_id"], "--key", alice_key], "expired"),
        (["review", "approve", h_fin["event_id"], "--key", str(tmp_path / "nokey")], "key file"),
        (["review", "show", str(uuid.uuid4())], "no held event"),
    ]
    for argv, message in bad_cases:
        code, out, err = cli(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("sluice: error:") and message in err, (argv, err)
        assert err.count("\n") == 1 and out == ""
    assert len(asyncio.run(read_decisions())) == 2
