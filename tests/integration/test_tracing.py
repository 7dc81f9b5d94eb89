"""OpenTelemetry against the real Apache Kafka: one trace id from the producer's
``traceparent`` through intake (a span per stage), the hold, the two votes and the
release, as the worker's span file shows, and the released Outcome carries the
traceparent of the gate's release span."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
from tests.helpers import WorkerProcess, produce, wait_for_count
from tests.integration.test_gate import POLICY, _setup
from tests.integration.test_headers import _headers_by_event, _produce_with_headers

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PRODUCER_SPAN}-01".encode()
STAGES = {"sluice.decode", "sluice.validate", "sluice.sanitize", "sluice.assess", "sluice.route"}


def _ids(headers: dict[str, bytes]) -> tuple[str, str]:
    _, trace_id, span_id, _ = headers["traceparent"].decode().split("-")
    return trace_id, span_id


def _spans(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        s = json.loads(line)
        out.append(
            {
                "name": s["name"],
                "trace": s["context"]["trace_id"].removeprefix("0x"),
                "span": s["context"]["span_id"].removeprefix("0x"),
                "parent": (s["parent_id"] or "").removeprefix("0x"),
                "attrs": s["attributes"],
            }
        )
    return out


async def test_one_trace_id_from_producer_through_a_hold_to_the_release(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    env, settings, topics, scn = await _setup(sluice_env, tmp_path, POLICY)
    span_file = tmp_path / "spans.jsonl"
    env |= {
        "SLUICE_OTEL": "1",
        "SLUICE_OTEL_FILE": str(span_file),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    allowed, publish = make_events(2, held_share=0.0, seed=41, now_ms=now)
    allowed.update(kind="TOOL_CALL", data_classification="INTERNAL")
    publish.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
    for ev in (allowed, publish):
        ev["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
        ev["on_behalf_of"] = "dave"
    headers = [("traceparent", TRACEPARENT), ("ce_id", b"ce-7")]

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
        eid = h1["event_id"].encode()
        await produce(
            settings,
            topics.decisions,
            [(eid, scn.decision(h1, "carol")), (eid, scn.decision(h1, "erin"))],
        )
        await wait_for_count(settings, [topics.approved], 2)
        by_event = await _headers_by_event(settings, topics.approved)
    finally:
        assert worker.stop() == 0  # a clean exit flushes the span processors

    spans = _spans(span_file)
    by_span = {s["span"]: s for s in spans}

    def intake_span(event_id: str) -> dict[str, Any]:
        (s,) = [
            s
            for s in spans
            if s["name"] == "sluice.intake" and s["attrs"].get("sluice.event_id") == event_id
        ]
        return s

    # Intake: the producer's span is the parent; each stage is a child of the event span.
    held_in = intake_span(publish["event_id"])
    assert (held_in["trace"], held_in["parent"]) == (TRACE_ID, PRODUCER_SPAN)
    assert held_in["attrs"]["sluice.outcome"] == "held"
    children = {s["name"] for s in spans if s["parent"] == held_in["span"]}
    assert {n for n in children if not n.startswith("sluice.gate.")} == STAGES
    # The HeldEvent continues from the intake span; the approved one likewise.
    assert _ids(held_headers) == (TRACE_ID, held_in["span"])
    allowed_in = intake_span(allowed["event_id"])
    assert _ids(by_event[allowed["event_id"]]) == (TRACE_ID, allowed_in["span"])

    # Gate: held, each vote and the release, in the same trace, under the intake span.
    gate = [
        s
        for s in spans
        if s["name"].startswith("sluice.gate.")
        and s["attrs"].get("sluice.event_id") == publish["event_id"]
    ]
    names = sorted(s["name"] for s in gate)
    assert names == [
        "sluice.gate.decision_counted",
        "sluice.gate.decision_counted",
        "sluice.gate.held",
        "sluice.gate.release",
    ]
    assert all(s["trace"] == TRACE_ID and s["parent"] == held_in["span"] for s in gate)
    assert {s["attrs"].get("sluice.reviewer_id") for s in gate} >= {"carol", "erin"}
    (release,) = [s for s in gate if s["name"] == "sluice.gate.release"]
    assert release["attrs"]["sluice.outcome"] == "APPROVED"
    # The released Outcome continues the trace from the release span; other headers kept.
    released = by_event[publish["event_id"]]
    assert _ids(released) == (TRACE_ID, release["span"]) and release["span"] in by_span
    assert released["ce_id"] == b"ce-7"
