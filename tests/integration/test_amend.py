"""Approve with amendments end to end, against the real Kafka and a running worker.

A held message is approved with amendments by two reviewers (``sluice review approve
--amend FILE`` and the Python API); the amended, re-sanitized event is what appears on
``workflow.events.approved``, and the Outcome, the audit trail and ``sluice trace``
carry both hashes and the changed fields. On the way: the first reviewer's vote over
the original does not count for the amendment, a client-side amendment with a secret
is refused before signing, and one forced past the client is refused by the gate."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest
import yaml

from sluice import review
from sluice.cli.main import main
from sluice.codec import default_codec
from sluice.gate.amend import encode_amended, merge_patch
from sluice.gate.signatures import build_decision, read_private_key, sign_decision
from sluice.tools.bench.events import make_events
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
  - name: message-send
    when: event.kind == "MESSAGE_SEND"
    hold: {roles: [comms], approvals: 2, ttl: 1h, on_expiry: reject}
default:
  allow: {}
"""
AWS_KEY = "AKIAZ3MXQ7R2LBN4WT6Q"  # real shape, not the documented example
PATCH = {"arguments": {"cc": None}, "content": "Hello team,\nthe deploy is at 5."}


def test_amended_release_by_two_reviewers(
    sluice_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entries = []
    for name in ("carol", "erin", "frank"):
        argv = ["keys", "new", "--reviewer", name, "--out", str(tmp_path / f"{name}.key")]
        assert main([*argv, "--role", "comms"]) == 0
        entries += yaml.safe_load(capsys.readouterr().out)
    (tmp_path / "reviewers.yaml").write_text(yaml.safe_dump({"reviewers": entries}))
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "amend.json").write_text(json.dumps(PATCH))
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(tmp_path / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = settings_from_env(env)
    topics = topics_for(env)
    codec = default_codec()
    (ev,) = make_events(1, held_share=0.0, seed=7, now_ms=time.time_ns() // 1_000_000)
    ev.update(
        kind="MESSAGE_SEND",
        data_classification="INTERNAL",
        content="Hello team,\nthe deploy is at 5.\ninternal revenue numbers: 42",
        arguments={"to": "bob@example.com", "cc": "eve@evil.example", "subject": "deploy"},
    )
    eid = ev["event_id"]

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        asyncio.run(
            produce(
                settings,
                topics.events,
                [(ev["run_id"].encode(), codec.encode("WorkflowEvent", ev))],
            )
        )
        (held,) = asyncio.run(wait_for_count(settings, [topics.approvals], 1))[topics.approvals]
        original = codec.decode("WorkflowEvent", held["event"])

        # A secret in an amendment: refused before signing, naming the gate's reason.
        with pytest.raises(review.ReviewError, match="amendment_unsafe"):
            review.approve(eid, key=tmp_path / "frank.key", amend={"content": f"key {AWS_KEY}"})
        # Forced past the client (signed by hand): the gate refuses it.
        forced = encode_amended(merge_patch(original, {"content": f"use {AWS_KEY}"}))
        frank = read_private_key(tmp_path / "frank.key")
        bad = build_decision(
            event_id=eid,
            verdict="APPROVE",
            reviewer_id="frank",
            key_id=frank.key_id,
            content_hash=held["content_hash"],
            amended_event=forced,
        )
        sign_decision(bad, frank.private_key)
        asyncio.run(review.apublish(settings, bad))

        # carol approves the original; erin approves the amendment (CLI): one vote each,
        # not a quorum (the audit below shows both counted, and nothing was released).
        plain = review.approve(eid, key=tmp_path / "carol.key")
        argv = ["review", "approve", eid, "--amend", str(tmp_path / "amend.json")]
        assert main([*argv, "--key", str(tmp_path / "erin.key"), "--json"]) == 0
        erin = json.loads(capsys.readouterr().out)
        # carol approves the same amendment: her vote moves to it, and it is released.
        done = review.approve(eid, key=tmp_path / "carol.key", amend=PATCH, wait=True, timeout_s=60)
        assert done.status == "approved", done
        amended_hash = done.decision["amended_hash"]

        outcomes = [r for r in asyncio.run(collect(settings, topics.approved)) if r["_key"]]
        (out,) = [r for r in outcomes if r["event_id"] == eid]
        assert sorted(out["reviewers"]) == ["carol", "erin"]
        assert out["content_hash"] == amended_hash == hashlib.sha256(out["event"]).hexdigest()
        assert out["original_content_hash"] == held["content_hash"] != amended_hash
        assert out["amended_fields"] == ["arguments.cc", "content"]
        released = codec.decode("WorkflowEvent", out["event"])
        assert released["content"] == PATCH["content"] and "cc" not in released["arguments"]
        assert released["arguments"]["to"] == "bob@example.com"
        assert {k: v for k, v in released.items() if k not in ("content", "arguments")} == {
            k: v for k, v in original.items() if k not in ("content", "arguments")
        }
        assert AWS_KEY.encode() not in out["event"]

        audit = [r for r in asyncio.run(collect(settings, topics.audit)) if r["event_id"] == eid]
        (approved,) = [r for r in audit if r["transition"] == "approved"]
        assert approved["content_hash"] == amended_hash
        assert approved["original_content_hash"] == held["content_hash"]
        assert approved["amended_fields"] == ["arguments.cc", "content"]
        refused = [
            r["reason_code"]
            for r in audit
            if r["transition"] == "decision_refused" and r["decision_id"] == bad["decision_id"]
        ]
        assert refused == ["amendment_unsafe"]
        counted = {
            r["decision_id"]: r["content_hash"]
            for r in audit
            if r["transition"] == "decision_counted"
        }
        assert counted == {
            plain.decision_id: held["content_hash"],  # the original: counted, not enough
            erin["decision_id"]: amended_hash,
            done.decision_id: amended_hash,
        }
        (withdrawn,) = [r for r in audit if r["transition"] == "vote_withdrawn"]
        assert (withdrawn["reason_code"], withdrawn["decision_id"]) == (
            "superseded",
            plain.decision_id,
        )
        assert erin["amended_hash"] == amended_hash  # the same bytes, signed by two
        assert not [r for r in audit if AWS_KEY in json.dumps(r, default=str)]

        assert main(["trace", eid, "--run-id", ev["run_id"]]) == 0
        text = capsys.readouterr().out
        assert f"amended=arguments.cc,content hash={held['content_hash'][:12]}->" in text
        assert "reason_code=amendment_unsafe" in text and "decision APPROVE amended" in text
    finally:
        assert worker.stop() == 0
