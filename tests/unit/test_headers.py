"""Header carrying (``sluice.headers.carry``): the deny-list, the bounds, names that are not
UTF-8, trace context and CloudEvents headers kept; intake results and the gate's
changelog entries and releases carry them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder

from sluice.codec import default_codec
from sluice.gate.entry import Entry
from sluice.gate.quorum import GateState
from sluice.headers import MAX_BYTES, MAX_HEADERS, carry
from sluice.kafka.outbox import Outbox
from sluice.pipeline import Intake
from sluice.policy.model import Assessment, HoldSpec
from sluice.settings import load_settings
from sluice.tools.bench.events import make_events
from sluice.topics import Topics
from sluice.worker import build_intake
from tests.unit.gate.test_quorum import REGISTRY, dec, held

TP = ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
CODEC = default_codec()
TOPICS = Topics.with_prefix("")
HOLD = HoldSpec(roles=("security",), approvals=1, ttl_ms=3600_000, on_expiry="REJECT")


def names(hs: list[tuple[str, bytes]]) -> list[str]:
    return [n for n, _ in hs]


def test_no_headers_no_work() -> None:
    assert carry(None) == [] and carry([]) == []


def test_deny_list_is_case_insensitive() -> None:
    given = [
        ("sluice-producer-key", b"k"),
        ("Sluice-Producer-Sig", b"s"),
        ("Authorization", b"Bearer x"),
        ("proxy-authorization", b"x"),
        ("Cookie", b"a=b"),
        ("X-API-Key", b"k"),
        ("x-auth-token", b"t"),
        ("client_secret", b"s"),
        ("DB-PASSWORD", b"p"),
        ("my-apikey", b"k"),
        ("x-request-id", b"r1"),
    ]
    assert carry(given) == [("x-request-id", b"r1")]


def test_trace_context_and_cloudevents_kept() -> None:
    given = [("ce_id", b"1"), TP, ("tracestate", b"a=b"), ("ce_type", b"t"), ("other", b"o")]
    assert carry(given) == given


def test_non_utf8_names_and_bad_items_dropped() -> None:
    bad_name = b"x-\xff".decode("utf-8", "surrogateescape")
    given: list[Any] = [(bad_name, b"v"), (b"bytes-name", b"v"), ("", b"v"), ("none", None)]
    given += [("ok", bytearray(b"v")), ("three", b"v", b"x"), "junk", ("int", 5)]
    assert carry(given) == [("ok", b"v")]


def test_count_bound_keeps_trace_context_first() -> None:
    given = [(f"h{i}", b"v") for i in range(40)] + [TP, ("ce_id", b"1")]
    out = carry(given)
    assert len(out) == MAX_HEADERS
    assert out[:2] == [TP, ("ce_id", b"1")] and names(out)[2:] == [f"h{i}" for i in range(30)]


def test_size_bound() -> None:
    big = b"x" * (MAX_BYTES - 100)
    out = carry([("big", big), ("big2", big), TP, ("small", b"s")])
    assert names(out) == ["traceparent", "big", "small"]
    assert sum(len(n) + len(v) for n, v in out) <= MAX_BYTES


# -- intake -----------------------------------------------------------------------------


class Allow:
    hash = "ab" * 32

    def __init__(self, effect: str) -> None:
        self.effect = effect

    def assess(self, event: dict[str, Any], findings: list[Any]) -> Assessment:
        return Assessment(
            outcome=self.effect,
            rule="r",
            reason=None,
            hold=HOLD if self.effect == "hold" else None,
            policy_hash=self.hash,
            risk_score=0.0,
        )


@pytest.fixture(scope="module")
def parts() -> Intake:
    built, _ = build_intake(load_settings(fingerprint_key="intake-unit", data_dir="/nonexistent"))
    return built


def stage(parts: Intake, effect: str) -> Intake:
    return Intake(CODEC, parts.validator, parts.sanitizer, Allow(effect), TOPICS)


@pytest.mark.parametrize("effect", ["allow", "deny", "hold"])
def test_intake_results_carry_headers(parts: Intake, effect: str) -> None:
    now = time.time_ns() // 1_000_000
    value = CODEC.encode("WorkflowEvent", make_events(1, held_share=0.0, seed=3, now_ms=now)[0])
    given = [TP, ("ce_id", b"e1"), ("authorization", b"Bearer x")]
    intake = stage(parts, effect)
    r = intake.process(value, b"k", ("events", 0, 1), now, now, given)
    assert r.headers == [TP, ("ce_id", b"e1")]
    assert intake.process(value, b"k", ("events", 0, 1), now, now, None).headers == []
    dlq = intake.process(b"junk", b"k", ("events", 0, 2), now, now, given)
    assert dlq.topic == TOPICS.dlq and dlq.headers == [TP, ("ce_id", b"e1")]


# -- gate -------------------------------------------------------------------------------


def test_entry_changelog_keeps_headers_and_reads_old_entries() -> None:
    h = held()
    e = Entry.opened(h, b"raw", h["content_hash"], set(), [TP, ("ce_id", b"\x00\xff")])
    back = Entry.from_bytes(e.to_bytes())
    assert back.headers == (TP, ("ce_id", b"\x00\xff"))
    plain = Entry.opened(h, b"raw", h["content_hash"], set())
    assert b'"hd"' not in plain.to_bytes()  # entries without headers: bytes as before
    assert Entry.from_bytes(plain.to_bytes()).headers == ()


def test_release_carries_the_held_headers() -> None:
    g = GateState(REGISTRY)
    g.on_held(held(), b"raw", 0, [TP])
    g.on_decision(dec("a"), 1, 1)
    out = g.on_decision(dec("b"), 2, 2)
    (release,) = [e.data for e in out if e.kind == "release"]
    assert release["headers"] == [TP]
    assert g.entries[held()["event_id"]].headers == ()  # dropped with the body


# -- outbox -----------------------------------------------------------------------------


class _Producer:
    """Just enough of AIOKafkaProducer for Outbox.add, with aiokafka's real batch builder."""

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(16384, 0, is_transactional=1)


@pytest.mark.parametrize("given", [None, [], (), [TP], ((TP[0], TP[1]),)])
async def test_outbox_appends_headers_with_the_real_batch_builder(given: Any) -> None:
    # aiokafka's C record builder takes a list only: a tuple raised TypeError per batch.
    box = Outbox(_Producer(), {"t": [0]})
    await box.add("t", b"v", key=b"k", headers=given)
    await box.add("t", b"v", key=b"k", partition=0, headers=given)
