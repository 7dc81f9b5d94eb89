"""The velocity router's re-keying and headers, and the pure pipeline's counting.

Attacker cases: a producer that sends the router's own headers (a forged ingest time
from long ago, a forged source, a forged original key) must not have them believed;
spellings of one actor id land on one partition key.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from sluice.agents.velocity import HEADER_AT, HEADER_KEY, VelocityRouter, _foreign, unwrap
from sluice.codec import default_codec
from sluice.tools.bench.events import make_events


def _rec(headers: list[tuple[str, bytes]], key: bytes | None = b"run-1", offset: int = 9) -> Any:
    return SimpleNamespace(headers=headers, key=key, offset=offset, value=b"v")


def test_the_router_drops_every_velocity_header_a_producer_sent() -> None:
    forged = [
        (HEADER_AT, b"0 0 0"),
        ("Sluice-Velocity-Key", b"other-run"),
        ("sluice-velocity-anything", b"x"),
        ("traceparent", b"00-abc-def-01"),
    ]
    assert _foreign(forged) == [("traceparent", b"00-abc-def-01")]


def test_unwrap_takes_the_router_headers_once_and_hides_them_downstream() -> None:
    rec = _rec(
        [
            ("traceparent", b"t"),
            (HEADER_AT, b"1700000000123 1 42"),
            (HEADER_KEY, b"run-7"),
            (HEADER_AT, b"5 0 0"),  # a second copy is never read
        ]
    )
    source, key, at, headers = unwrap(rec, "workflow.events", "repart", 0, now=99)
    assert source == ("workflow.events", 1, 42)
    assert (key, at) == (b"run-7", 1_700_000_000_123)
    assert headers == [("traceparent", b"t")]


def test_a_record_without_router_headers_keeps_its_own_position_and_now() -> None:
    for hdrs in ([], [(HEADER_AT, b"not numbers")], [(HEADER_AT, b"\xff\xfe")]):
        source, key, at, _ = unwrap(_rec(hdrs), "workflow.events", "repart", 3, now=77)
        assert source == ("repart", 3, 9) and key == b"run-1" and at == 77


def _router() -> VelocityRouter:
    router = VelocityRouter.__new__(VelocityRouter)
    router.codec = default_codec()
    router.settings = SimpleNamespace(max_record_bytes=512 * 1024)  # type: ignore[assignment]
    return router


def test_route_key_is_the_normalized_actor_and_garbage_keeps_its_key() -> None:
    codec = default_codec()
    base = make_events(1, seed=1, now_ms=time.time_ns() // 1_000_000)[0]
    router = _router()
    keys = set()
    for spelling in ("Agent-9", "AGENT-9", "\uff21\uff47\uff45\uff4e\uff54-9"):
        ev = {**base, "actor": {**base["actor"], "id": spelling}}
        keys.add(router.route_key(codec.encode("WorkflowEvent", ev), b"run-1"))
    assert keys == {b"agent-9"}
    assert router.route_key(b"\xc3\x01garbage", b"run-1") == b"run-1"
    assert router.route_key(None, b"run-1") == b"run-1"
    assert router.route_key(b"x" * (512 * 1024 + 1), b"run-1") == b"run-1"  # never decoded


def test_the_pure_pipeline_counts_in_process_when_no_counter_is_passed() -> None:
    """Intake without Kafka (bench, tests) counts per process: the 201st event of one
    actor is held by the shipped default policy, a routine step before it is not."""
    from sluice.settings import load_settings
    from sluice.worker import build_intake

    intake, policy = build_intake(load_settings(fingerprint_key="k" * 32))
    assert policy.uses_velocity
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    base = make_events(1, seed=5, now_ms=now)[0]
    base = {
        **base,
        "kind": "PROMPT",
        "data_classification": "INTERNAL",
        "content": "ok",
        "arguments": None,
        "attributes": {},
        "resource": None,
        "cost_usd": None,
        "confidence": None,
    }
    outcomes = []
    for i in range(201):
        ev = {**base, "event_id": f"00000000-0000-4000-8000-{i:012d}", "run_id": f"r{i}"}
        r = intake.process(codec.encode("WorkflowEvent", ev), None, ("t", 0, i), now, now)
        outcomes.append(r.outcome)
    assert outcomes[:200] == ["approved"] * 200
    assert outcomes[200] == "held"


def test_a_header_name_that_is_not_utf8_is_not_copied() -> None:
    """Read with escapes (lone surrogates), it could not be produced again: dropping it
    keeps the batch from failing for ever (poison); no sluice header is named so."""
    bad = "x-\udcff"
    assert _foreign([(bad, b"v"), ("sluice-producer-key", b"k"), ("ok", None)]) == [
        ("sluice-producer-key", b"k"),
        ("ok", None),
    ]
