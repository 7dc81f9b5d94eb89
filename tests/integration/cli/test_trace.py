"""``sluice trace`` against the real Apache Kafka: a held-then-approved event and a
dead-lettered one, written to the sluice topics the way the stages write them."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest

from sluice.audit.chain import ChainWriter
from sluice.cli.main import main
from sluice.codec import default_codec
from sluice.kafka import create_topics
from tests.helpers import produce, settings_from_env, topics_for

pytestmark = pytest.mark.integration


def test_trace_held_approved_and_dlq(
    sluice_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    held_id, dlq_id, other_id = (str(uuid.uuid4()) for _ in range(3))
    t0 = time.time_ns() // 1_000_000 - 10_000
    intake = ChainWriter("intake:0", None)
    gate = ChainWriter("gate:0", None)
    base = {"run_id": "run-1", "workflow_id": "wf-1", "kind": "CODE_PUBLISH", "actor_id": "agent-7"}
    audit = [
        *intake.append(stage="intake", transition="received", event_id=held_id, at=t0, **base),
        *intake.append(stage="intake", transition="received", event_id=other_id, at=t0 + 1, **base),
        *intake.append(
            stage="intake",
            transition="held",
            outcome="held",
            event_id=held_id,
            rule="code-publish",
            policy_hash="p" * 64,
            content_hash="c" * 64,
            at=t0 + 4,
            **base,
        ),
        *intake.append(
            stage="intake",
            transition="invalid",
            reason_code="invalid_uuid",
            event_id=dlq_id,
            at=t0 + 6,
        ),
        *gate.append(
            stage="gate",
            transition="decision_counted",
            event_id=held_id,
            reviewer_id="bob",
            decision_id="d-1",
            at=t0 + 2_504,
            **base,
        ),
        *gate.append(
            stage="gate",
            transition="approved",
            outcome="approved",
            event_id=held_id,
            at=t0 + 2_510,
            **base,
        ),
    ]
    held = {
        **base,
        "event_id": held_id,
        "on_behalf_of": None,
        "trace_id": None,
        "event": b"\x00",
        "content_hash": "c" * 64,
        "findings": [],
        "rule": "code-publish",
        "policy_hash": "p" * 64,
        "reason": None,
        "risk_score": 0.8,
        "roles": ["release-manager"],
        "approvals": 1,
        "on_expiry": "REJECT",
        "escalate_roles": [],
        "escalate_ttl_ms": 0,
        "received_at": t0,
        "held_at": t0 + 4,
        "expires_at": t0 + 3_600_000,
    }
    decision = {
        "decision_id": str(uuid.uuid4()),
        "event_id": held_id,
        "verdict": "APPROVE",
        "reviewer_id": "bob",
        "reason": "",
        "decided_at": t0 + 2_500,
        "key_id": "bob-1",
        "content_hash": "c" * 64,
        "signature": b"s" * 64,
    }
    outcome = {
        "event_id": held_id,
        "run_id": "run-1",
        "workflow_id": "wf-1",
        "kind": "CODE_PUBLISH",
        "trace_id": None,
        "outcome": "APPROVED",
        "source": "REVIEWER",
        "rule": "code-publish",
        "policy_hash": "p" * 64,
        "reason": None,
        "reviewers": ["bob"],
        "findings": [],
        "event": b"\x00",
        "content_hash": "c" * 64,
        "received_at": t0,
        "decided_at": t0 + 2_510,
    }
    dead = {
        "error_code": "invalid_uuid",
        "detail": "event_id is not a UUID",
        "source_topic": topics.events,
        "source_partition": 0,
        "source_offset": 3,
        "source_timestamp": t0,
        "payload_size": 900,
        "payload_sha256": "d" * 64,
        "schema_fingerprint": None,
        "event_id": dlq_id,
        "preview": None,
        "failed_at": t0 + 6,
    }

    async def write() -> None:
        await create_topics(settings)
        await produce(
            settings,
            topics.audit,
            [
                ((r["event_id"] or r["chain"]).encode(), codec.encode("AuditRecord", r))
                for r in audit
            ],
        )
        await produce(
            settings, topics.approvals, [(held_id.encode(), codec.encode("HeldEvent", held))]
        )
        await produce(
            settings, topics.decisions, [(held_id.encode(), codec.encode("Decision", decision))]
        )
        await produce(
            settings, topics.approved, [(held_id.encode(), codec.encode("Outcome", outcome))]
        )
        await produce(settings, topics.dlq, [(b"run-9", codec.encode("DeadLetter", dead))])

    asyncio.run(write())

    capsys.readouterr()
    assert main(["trace", held_id, "--json"]) == 0
    got = orjson.loads(capsys.readouterr().out)
    timeline = got["timeline"]
    assert [t["label"] for t in timeline] == [
        "intake/received",
        "intake/held held",
        "held for 1 approval(s)",
        "decision APPROVE by bob",
        "gate/decision_counted",
        "gate/approved approved",
        "outcome APPROVED (REVIEWER)",
    ]
    assert [t["role"] for t in timeline] == [
        "audit",
        "audit",
        "approvals",
        "decisions",
        "audit",
        "audit",
        "approved",
    ]
    assert [t["delta_ms"] for t in timeline] == [0, 4, 0, 2_496, 4, 6, 0]
    assert timeline[-1]["elapsed_ms"] == 2_510
    assert all(t["fields"].get("event") is None for t in timeline)

    assert main(["trace", held_id]) == 0
    text = capsys.readouterr().out
    assert "decision APPROVE by bob" in text and "total 2510ms" in text

    assert main(["trace", dlq_id, "--json"]) == 0
    dlq = orjson.loads(capsys.readouterr().out)["timeline"]
    assert [(t["role"], t["label"]) for t in dlq] == [
        ("audit", "intake/invalid"),
        ("dlq", "dead letter invalid_uuid"),
    ]
    assert dlq[1]["fields"]["source_offset"] == 3

    assert main(["trace", str(uuid.uuid4())]) == 1
    assert "no records found" in capsys.readouterr().err


def test_trace_reads_only_the_partitions_the_key_maps_to(
    sluice_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from sluice.audit.trace import key_partition
    from sluice.kafka import make_producer

    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    event_id = str(uuid.uuid4())
    t0 = time.time_ns() // 1_000_000
    decision = {
        "decision_id": "d-1",
        "event_id": event_id,
        "verdict": "APPROVE",
        "reviewer_id": "bob",
        "reason": "",
        "decided_at": t0,
        "key_id": "bob-1",
        "content_hash": "c" * 64,
        "signature": b"s" * 64,
    }
    decoy = {**decision, "decision_id": "d-2", "reviewer_id": "mallory", "decided_at": t0 + 1}
    n = settings.partitions
    assert n >= 2
    home = key_partition(event_id.encode(), n)

    async def write() -> int:
        await create_topics(settings)
        # The producer's default partitioner chooses the partition for the key ...
        await produce(
            settings, topics.decisions, [(event_id.encode(), codec.encode("Decision", decision))]
        )
        # ... and a record with the same key forced elsewhere is not where trace looks.
        producer = make_producer(settings)
        await producer.start()
        try:
            meta = await producer.send_and_wait(
                topics.decisions,
                codec.encode("Decision", decoy),
                key=event_id.encode(),
                partition=(home + 1) % n,
            )
        finally:
            await producer.stop()
        return meta.partition

    decoy_partition = asyncio.run(write())
    assert decoy_partition != home

    capsys.readouterr()
    assert main(["trace", event_id, "--json"]) == 0
    timeline = orjson.loads(capsys.readouterr().out)["timeline"]
    assert [(t["label"], t["partition"]) for t in timeline] == [("decision APPROVE by bob", home)]
    assert capsys.readouterr().err == ""  # no progress line without a terminal

    assert main(["trace", event_id, "--json", "--all-partitions"]) == 0
    timeline = orjson.loads(capsys.readouterr().out)["timeline"]
    assert sorted(t["partition"] for t in timeline) == sorted([home, decoy_partition])
