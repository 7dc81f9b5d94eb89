"""Intake end to end against the real Apache Kafka: events in, outcomes and DLQ out."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from sluice.codec import default_codec, schema_fingerprint
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


def _now() -> int:
    return time.time_ns() // 1_000_000


async def test_events_in_outcomes_and_dlq_out(sluice_env: dict[str, str], tmp_path: Path) -> None:
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    good = make_events(60, held_share=0.2, seed=7, now_ms=_now())
    base = make_events(1, seed=99, now_ms=_now())[0]
    valid = codec.encode("WorkflowEvent", base)

    bad: list[tuple[str, bytes]] = [
        ("bad_magic", os.urandom(64)),
        ("unknown_fingerprint", b"\xc3\x01" + b"\x01\x02\x03\x04\x05\x06\x07\x08" + valid[10:]),
        ("truncated", valid[: len(valid) // 2]),
        ("trailing_bytes", valid + b"\x00\x01"),
        ("invalid_uuid", codec.encode("WorkflowEvent", {**base, "event_id": "not-a-uuid"})),
        (
            "timestamp_out_of_window",
            codec.encode(
                "WorkflowEvent",
                {**base, "event_id": str(uuid.uuid4()), "occurred_at": _now() - 30 * 86400_000},
            ),
        ),
        (
            "field_too_long",
            codec.encode(
                "WorkflowEvent", {**base, "event_id": str(uuid.uuid4()), "step": "s" * 10_000}
            ),
        ),
    ]
    items: list[tuple[bytes | None, bytes]] = []
    for i, ev in enumerate(good):
        items.append((ev["run_id"].encode(), codec.encode("WorkflowEvent", ev)))
        if i % 8 == 0 and bad:
            items.append((b"bad-" + bad[0][0].encode(), bad.pop(0)[1]))
    assert not bad
    worker = WorkerProcess(sluice_env, tmp_path / "worker.log")
    worker.start()
    try:
        await produce(settings, topics.events, items)
        got = await wait_for_count(
            settings, [topics.approved, topics.rejected, topics.approvals, topics.dlq], len(items)
        )
        metrics = worker.metrics_text()
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]

    out_ids = [
        r["event_id"] for t in (topics.approved, topics.rejected, topics.approvals) for r in got[t]
    ]
    assert sorted(out_ids) == sorted(e["event_id"] for e in good), "every good event exactly once"
    codes = sorted(r["error_code"] for r in got[topics.dlq])
    assert codes == sorted(
        [
            "bad_magic",
            "unknown_fingerprint",
            "truncated",
            "trailing_bytes",
            "invalid_uuid",
            "timestamp_out_of_window",
            "field_too_long",
        ]
    )
    for dead in got[topics.dlq]:
        assert dead["source_topic"] == topics.events
        assert dead["_key"].startswith(b"bad-")
        assert dead["payload_sha256"] and dead["payload_size"] > 0
    held_ids = {r["event_id"] for r in got[topics.approvals]}
    expected_held = {
        e["event_id"]
        for e in good
        if e["kind"] == "CODE_PUBLISH" or e["data_classification"] == "CONFIDENTIAL"
    }
    assert held_ids == expected_held
    for rec in got[topics.approved]:
        inner = codec.decode("WorkflowEvent", rec["event"])
        assert inner["event_id"] == rec["event_id"] and rec["source"] == "POLICY"
    assert 'sluice_events_total{kind="unknown",outcome="invalid"} 7.0' in metrics
    assert 'sluice_validation_failures_total{reason="bad_magic"} 1.0' in metrics
    audit = await collect(settings, topics.audit)
    assert len(audit) >= len(items)


async def test_foreign_client_librdkafka(sluice_env: dict[str, str], tmp_path: Path) -> None:
    """confluent-kafka (librdkafka) publishes with a fingerprint computed per the Avro spec."""
    import confluent_kafka
    import fastavro
    from fastavro.schema import to_parsing_canonical_form

    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    schema_path = Path(__file__).resolve().parents[2] / "schemas" / "WorkflowEvent.avsc"
    import json

    raw = json.loads(schema_path.read_text())
    parsed = fastavro.parse_schema(raw)
    fp_hex = fastavro.schema.fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")
    assert bytes.fromhex(fp_hex) == schema_fingerprint(to_parsing_canonical_form(raw))
    import io

    events = make_events(5, held_share=0.0, seed=3, now_ms=_now())
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "acks": "all"}
    )
    await produce(settings, topics.events, [])  # creates nothing; ensures connectivity
    worker = WorkerProcess(sluice_env, tmp_path / "worker.log")
    worker.start()
    try:
        for ev in events:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, {**ev})
            producer.produce(
                topics.events,
                value=b"\xc3\x01" + bytes.fromhex(fp_hex) + buf.getvalue(),
                key=ev["run_id"].encode(),
            )
        assert producer.flush(30) == 0
        got = await wait_for_count(settings, [topics.approved], len(events))
    finally:
        worker.stop()
    assert sorted(r["event_id"] for r in got[topics.approved]) == sorted(
        e["event_id"] for e in events
    )
