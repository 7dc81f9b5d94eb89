"""OpenTelemetry spans (``sluice.tracing``) with the SDK's in-memory exporter: one span per
intake record in the producer's trace with a child per stage, gate transitions in the
held event's trace, outputs carrying the sluice span's traceparent; hostile trace
headers; no event content or exception text in spans; off imports nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sluice import tracing
from sluice.errors import ConfigError
from sluice.gate.quorum import GateState
from sluice.pipeline import Intake
from sluice.settings import load_settings
from sluice.tools.bench.events import make_events
from sluice.tracing import otel
from sluice.worker import build_intake
from tests.unit.gate.test_quorum import REGISTRY, dec, held
from tests.unit.test_headers import CODEC, TOPICS, Allow

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TP = ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01".encode())
STAGES = ["sluice.decode", "sluice.validate", "sluice.sanitize", "sluice.assess", "sluice.route"]
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()


@pytest.fixture(scope="module")
def base() -> Intake:
    built, _ = build_intake(load_settings(fingerprint_key="tracing-unit", data_dir="/nonexistent"))
    return built


def intake(base: Intake, effect: str) -> Intake:
    return Intake(CODEC, base.validator, base.sanitizer, Allow(effect), TOPICS)


def event(**changes: Any) -> tuple[bytes, int]:
    now = time.time_ns() // 1_000_000
    ev = make_events(1, held_share=0.0, seed=5, now_ms=now)[0]
    ev.update(changes)
    return CODEC.encode("WorkflowEvent", ev), now


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for s in exporter.get_finished_spans():
        out.setdefault(s.name, []).append(s)
    return out


def traceparent(headers: list[tuple[str, bytes]]) -> tuple[str, str, str]:
    (value,) = [v for n, v in headers if n == "traceparent"]
    _, trace_id, span_id, flags = value.decode().split("-")
    return trace_id, span_id, flags


def hexid(n: int, width: int) -> str:
    return format(n, f"0{width}x")


# -- intake -----------------------------------------------------------------------------


@pytest.mark.parametrize("effect", ["allow", "hold"])
def test_each_stage_is_a_child_of_the_event_span_in_the_producers_trace(
    base: Intake, spans: InMemorySpanExporter, effect: str
) -> None:
    value, now = event()
    given = [TP, ("tracestate", b"vendor=1"), ("ce_id", b"e1"), ("authorization", b"Bearer x")]
    r = tracing.intake_process(intake(base, effect))(value, b"k", ("events", 2, 7), now, now, given)
    got = by_name(spans)
    (ev,) = got["sluice.intake"]
    assert hexid(ev.context.trace_id, 32) == TRACE_ID
    assert ev.parent is not None and hexid(ev.parent.span_id, 16) == PARENT_ID
    assert ev.attributes is not None
    assert ev.attributes["sluice.outcome"] == ("held" if effect == "hold" else "approved")
    assert ev.attributes["messaging.kafka.offset"] == 7
    assert ev.attributes["sluice.event_id"] == r.event_id
    for name in STAGES:
        (s,) = got[name]
        assert s.parent is not None and s.parent.span_id == ev.context.span_id, name
        assert s.context.trace_id == ev.context.trace_id
    # The output continues the trace from the sluice span; other headers as carried.
    assert traceparent(r.headers) == (TRACE_ID, hexid(ev.context.span_id, 16), "01")
    assert ("tracestate", b"vendor=1") in r.headers and ("ce_id", b"e1") in r.headers
    assert "authorization" not in dict(r.headers)


def test_no_trace_context_starts_a_trace_that_the_output_carries(
    base: Intake, spans: InMemorySpanExporter
) -> None:
    value, now = event()
    r = tracing.intake_process(intake(base, "allow"))(value, b"k", ("events", 0, 1), now, now)
    (ev,) = by_name(spans)["sluice.intake"]
    assert ev.parent is None
    assert traceparent(r.headers)[:2] == (
        hexid(ev.context.trace_id, 32),
        hexid(ev.context.span_id, 16),
    )


@pytest.mark.parametrize(
    "hostile",
    [
        [("traceparent", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")],  # all-zero trace id
        [("traceparent", b"ff-" + TRACE_ID.encode() + b"-00f067aa0ba902b7-01")],  # version ff
        [("traceparent", b"\xff\xfe" * 40)],  # not ASCII
        [("traceparent", b"x" * 8000)],
        [TP, ("tracestate", b",".join(b"k%d=v" % i for i in range(500)))],  # > 32 members
        [("TraceParent", b"00-" + TRACE_ID.encode() + b"-" + b"0" * 16 + b"-01")],  # zero span
    ],
)
def test_hostile_trace_headers_never_fail_the_record(
    base: Intake, spans: InMemorySpanExporter, hostile: list[tuple[str, bytes]]
) -> None:
    bad = hostile
    value, now = event()
    r = tracing.intake_process(intake(base, "allow"))(value, b"k", ("events", 0, 1), now, now, bad)
    assert r.topic == TOPICS.approved  # routed as without the header
    (ev,) = by_name(spans)["sluice.intake"]
    trace_id, span_id, _ = traceparent(r.headers)
    assert (trace_id, span_id) == (hexid(ev.context.trace_id, 32), hexid(ev.context.span_id, 16))
    assert int(trace_id, 16) != 0 and int(span_id, 16) != 0
    assert sum(n.lower() == "traceparent" for n, _ in r.headers) == 1


def test_an_unsampled_producer_trace_is_not_recorded_but_still_propagated(
    base: Intake, spans: InMemorySpanExporter
) -> None:
    value, now = event()
    unsampled = [("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-00".encode())]
    process = tracing.intake_process(intake(base, "allow"))
    r = process(value, b"k", ("events", 0, 1), now, now, unsampled)
    assert spans.get_finished_spans() == ()
    trace_id, _, flags = traceparent(r.headers)
    assert (trace_id, flags) == (TRACE_ID, "00")


@pytest.mark.parametrize("bad", ["future", "junk"])
def test_a_rejected_record_marks_its_stage_without_content_or_exception_text(
    base: Intake, spans: InMemorySpanExporter, bad: str
) -> None:
    """Attacker: a secret in a record that fails (decode or validate) must not reach the
    tracing backend through an exception message, an event or an attribute."""
    if bad == "future":
        value, now = event(occurred_at=time.time_ns() // 1_000_000 + 10**9, step=SECRET)
        failed = "sluice.validate"
    else:
        _, now = event()
        value = b"\xc3\x01" + b"\x00" * 8 + SECRET.encode()
        failed = "sluice.decode"
    r = tracing.intake_process(intake(base, "allow"))(value, b"k", ("events", 0, 1), now, now, [TP])
    assert r.topic == TOPICS.dlq
    got = by_name(spans)
    failures = [s for s in got[failed] if not s.status.is_ok]  # the DLQ salvage decodes too
    assert failures and all(s.status.description for s in failures)
    (ev,) = got["sluice.intake"]
    assert not ev.status.is_ok and ev.attributes and ev.attributes["sluice.error_code"]
    assert hexid(ev.context.trace_id, 32) == TRACE_ID
    dumped = "".join(s.to_json() for s in spans.get_finished_spans())
    assert SECRET not in dumped and SECRET[4:20] not in dumped
    assert all(not s.events for s in spans.get_finished_spans())  # no recorded exceptions


def test_traced_intake_is_built_once_per_intake(base: Intake, spans: InMemorySpanExporter) -> None:
    i = intake(base, "allow")
    assert tracing.intake_process(i) is tracing.intake_process(i)


# -- gate -------------------------------------------------------------------------------


def _gate(effects: list[Any], g: GateState) -> list[Any]:
    assert tracing.active is not None
    tracing.active.gate(effects, g)
    return effects


def test_gate_transitions_are_spans_in_the_held_events_trace(spans: InMemorySpanExporter) -> None:
    g = GateState(REGISTRY)
    h = held() | {"held_at": 1_000}
    _gate(g.on_held(h, b"raw", 1_000, [TP, ("ce_id", b"c")]), g)
    _gate(g.on_decision(dec("a"), 2_000, 2_000), g)
    _gate(g.on_decision(dec("a", did="other-id"), 2_100, 2_100), g)  # same reviewer: refused
    out = _gate(g.on_decision(dec("b"), 3_000, 3_000), g)
    got = by_name(spans)
    assert set(got) >= {
        "sluice.gate.held",
        "sluice.gate.decision_counted",
        "sluice.gate.decision_refused",
        "sluice.gate.release",
    }
    for s in spans.get_finished_spans():
        assert hexid(s.context.trace_id, 32) == TRACE_ID, s.name
        assert s.parent is not None and hexid(s.parent.span_id, 16) == PARENT_ID, s.name
    assert len(got["sluice.gate.decision_counted"]) == 2
    (rel,) = got["sluice.gate.release"]
    assert rel.attributes and rel.attributes["sluice.outcome"] == "APPROVED"
    assert rel.start_time == 1_000 * 1_000_000  # the span covers the hold
    (release,) = [e.data for e in out if e.kind == "release"]
    assert traceparent(release["headers"]) == (TRACE_ID, hexid(rel.context.span_id, 16), "01")
    assert ("ce_id", b"c") in release["headers"]


def test_expiry_is_a_span_in_the_held_events_trace(spans: InMemorySpanExporter) -> None:
    g = GateState(REGISTRY)
    _gate(g.on_held(held(expires_at=100), b"raw", 0, [TP]), g)
    out = _gate(g.tick(101), g)
    got = by_name(spans)
    (expired,) = got["sluice.gate.expired"]
    (rel,) = got["sluice.gate.release"]
    assert hexid(expired.context.trace_id, 32) == TRACE_ID == hexid(rel.context.trace_id, 32)
    assert rel.attributes and rel.attributes["sluice.decision_source"] == "EXPIRY"
    (release,) = [e.data for e in out if e.kind == "release"]
    assert traceparent(release["headers"])[1] == hexid(rel.context.span_id, 16)


def test_reviewer_free_text_is_not_an_attribute(spans: InMemorySpanExporter) -> None:
    g = GateState(REGISTRY)
    _gate(g.on_held(held(), b"raw", 0, [TP]), g)
    _gate(g.on_decision(dec("a", "REJECT", reason=SECRET), 1, 1), g)
    dumped = "".join(s.to_json() for s in spans.get_finished_spans())
    assert "sluice.gate.release" in dumped and SECRET not in dumped


# -- configuration and the off path -----------------------------------------------------


def test_exporters_from_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "bogus")
    with pytest.raises(ConfigError, match="bogus"):
        otel._exporters(False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert otel._exporters(False) == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert [type(e).__name__ for e in otel._exporters(False)] == ["ConsoleSpanExporter"]
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    assert otel._exporters(True) == []  # a span file alone: no OTLP expected
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install opentelemetry-exporter-otlp"):
            otel._exporters(False)


def test_span_file_is_json_lines_readable_by_the_owner_only(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = tmp_path / "spans.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(otel.JsonLinesExporter(path)))
    with provider.get_tracer("t").start_as_current_span("one"):
        pass
    provider.shutdown()
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["name"] == "one"
    assert path.stat().st_mode & 0o777 == 0o600


OFF = """
import sys, time
from sluice import tracing
from sluice.settings import load_settings
from sluice.worker import build_intake, Worker
import sluice.agents.gate, sluice.agents.intake
from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
settings = load_settings(fingerprint_key="off", data_dir="/nonexistent")
tracing.setup(settings)
intake, _ = build_intake(settings)
assert tracing.active is None and tracing.intake_process(intake) == intake.process
now = time.time_ns() // 1_000_000
value = default_codec().encode("WorkflowEvent", make_events(1, seed=1, now_ms=now)[0])
tp = ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
r = tracing.intake_process(intake)(value, b"k", ("events", 0, 1), now, now, [tp])
assert r.headers == [tp], r.headers  # carried unchanged
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_off_imports_no_opentelemetry_and_carries_headers_unchanged() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'streams'}{os.pathsep}{ROOT}"}
    env.pop("SLUICE_OTEL", None)
    out = subprocess.run(
        [sys.executable, "-c", OFF], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


MISSING = """
import sys
sys.modules["opentelemetry"] = None  # as in an install without the otel extra
from sluice import tracing
from sluice.errors import ConfigError
from sluice.settings import load_settings
try:
    tracing.setup(load_settings(otel=True, data_dir="/nonexistent"))
except ConfigError as exc:
    print(exc)
"""


def test_on_without_the_extra_is_a_config_error_naming_the_install() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'streams'}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", MISSING], env=env, capture_output=True, text=True, check=True
    )
    assert "pip install 'sluice-gate[otel]'" in out.stdout, out.stdout + out.stderr
