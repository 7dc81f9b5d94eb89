"""Headers from producer to release against the real Apache Kafka: an allowed event's
Outcome carries its trace context and CloudEvents headers but no credential header, and
a held event's release after the approvals quorum carries the producer's traceparent."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from sluice.codec import default_codec
from sluice.kafka import make_producer, read_topic
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from tests.helpers import WorkerProcess, collect, produce, wait_for_count
from tests.integration.test_gate import POLICY, _setup

pytestmark = pytest.mark.integration

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _produce_with_headers(
    settings: Settings, topic: str, items: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        futs = [await producer.send(topic, v, key=k, headers=h) for k, v, h in items]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def _headers_by_event(settings: Settings, topic: str) -> dict[str, dict[str, bytes]]:
    codec = default_codec()
    out: dict[str, dict[str, bytes]] = {}
    async for rec in read_topic(settings, topic):
        _, value = codec.decode_any(rec.value)
        out[value["event_id"]] = dict(rec.headers or ())
    return out


async def test_trace_context_from_producer_to_release_through_a_hold(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    env, settings, topics, scn = await _setup(sluice_env, tmp_path, POLICY)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    allowed, publish = make_events(2, held_share=0.0, seed=31, now_ms=now)
    allowed.update(kind="TOOL_CALL", data_classification="INTERNAL")
    publish.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
    for ev in (allowed, publish):
        ev["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
        ev["on_behalf_of"] = "dave"
    headers: list[tuple[str, bytes]] = [
        ("traceparent", TRACEPARENT),
        ("ce_id", b"ce-1"),
        ("authorization", b"Bearer not-carried"),
    ]

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await _produce_with_headers(
            settings,
            topics.events,
            [
                (e["run_id"].encode(), codec.encode("WorkflowEvent", e), headers)
                for e in (allowed, publish)
            ],
        )
        got = await wait_for_count(settings, [topics.approvals, topics.approved], 2)
        (h1,) = [r for r in got[topics.approvals] if r["event_id"] == publish["event_id"]]
        held_headers = (await _headers_by_event(settings, topics.approvals))[h1["event_id"]]
        assert held_headers == {"traceparent": TRACEPARENT, "ce_id": b"ce-1"}
        eid = h1["event_id"].encode()
        await produce(
            settings,
            topics.decisions,
            [(eid, scn.decision(h1, "carol")), (eid, scn.decision(h1, "erin"))],
        )
        await wait_for_count(settings, [topics.approved], 2)
        by_event = await _headers_by_event(settings, topics.approved)
        approved: list[dict[str, Any]] = await collect(settings, topics.approved)
    finally:
        assert worker.stop() == 0

    assert {r["event_id"] for r in approved} == {allowed["event_id"], publish["event_id"]}
    assert by_event[allowed["event_id"]] == {"traceparent": TRACEPARENT, "ce_id": b"ce-1"}
    released = by_event[publish["event_id"]]
    assert released["traceparent"] == TRACEPARENT and "authorization" not in released
    assert released.get("ce_id") == b"ce-1"
