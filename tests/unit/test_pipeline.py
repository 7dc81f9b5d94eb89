"""The pure intake stage (``sluice.pipeline.Intake``) with a stub policy: what each policy
effect becomes (record, topic, key, audit fields), and every DLQ code intake produces,
each with its reason code and without any secret value in what it writes."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from sluice.audit.chain import ChainWriter
from sluice.codec import default_codec
from sluice.errors import ErrorCode
from sluice.identity import fold_id
from sluice.models.finding import Finding
from sluice.pipeline import Intake, IntakeResult
from sluice.policy.model import Assessment, HoldSpec, Requirement
from sluice.producers import (
    HEADER_KEY,
    HEADER_SIG,
    ProducerKey,
    ProducerRegistry,
    ProducerSigner,
)
from sluice.settings import load_settings
from sluice.tools.bench.events import make_events
from sluice.topics import Topics
from sluice.worker import build_intake

CODEC = default_codec()
NOW = time.time_ns() // 1_000_000
TOPICS = Topics.with_prefix("")
SOURCE = (TOPICS.events, 3, 41)
POLICY_HASH = "ab" * 32
# Secret-looking values built by concatenation: no scanner bait in the repository.
AWS = "AKIA" + "QWERTYUIOP" + "ASDFGH"
HMAC_SECRET = b"producer-" + b"secret-" + b"0123456789abcdef0123"
OTHER_SECRET = b"another-" + b"secret-" + b"fedcba9876543210fedc"
HOLD = HoldSpec(
    roles=("security", "data-steward"),
    approvals=2,
    ttl_ms=4 * 3600_000,
    on_expiry="ESCALATE",
    escalate_roles=("ciso",),
    escalate_ttl_ms=3600_000,
    requirements=(Requirement("security", 1, 1), Requirement("data-steward", 1, 2)),
    escalate_approvals=1,
    escalate_requirements=(Requirement("ciso", 1, 1),),
    escalate_carry_votes=True,
)


class StubPolicy:
    """Answers ``effect`` for every event (``raises``: an internal error instead)."""

    hash = POLICY_HASH

    def __init__(self, effect: str = "allow", raises: bool = False) -> None:
        self.effect = effect
        self.raises = raises
        self.seen: list[tuple[dict[str, Any], list[Finding]]] = []

    def assess(self, event: dict[str, Any], findings: list[Finding]) -> Assessment:
        if self.raises:
            raise RuntimeError(f"policy blew up on {AWS}")  # the message must not leak
        self.seen.append((event, findings))
        return Assessment(
            outcome=self.effect,
            rule=f"stub-{self.effect}",
            reason=None if self.effect == "allow" else f"{self.effect} by stub",
            hold=HOLD if self.effect == "hold" else None,
            policy_hash=POLICY_HASH,
            risk_score={"allow": 0.0, "hold": 0.5, "deny": 1.0}[self.effect],
            errors=("broken-rule",) if self.effect == "deny" else (),
        )


@pytest.fixture(scope="module")
def parts() -> Intake:
    """The real codec, validator and sanitizer (and a default policy, replaced below)."""
    built, _ = build_intake(
        load_settings(fingerprint_key="intake-" + "unit", data_dir="/nonexistent")
    )
    return built


def stage(
    parts: Intake,
    policy: StubPolicy,
    *,
    producers: ProducerRegistry | None = None,
    max_record_bytes: int = 512 * 1024,
) -> Intake:
    return Intake(
        parts._codec,  # the same parts, another policy
        parts._validator,
        parts._sanitizer,
        policy,
        TOPICS,
        max_record_bytes=max_record_bytes,
        producers=producers,
    )


def event(**over: Any) -> dict[str, Any]:
    ev = make_events(1, held_share=0.0, seed=11, now_ms=NOW)[0]
    ev.update(over)
    return ev


def run(intake: Intake, value: bytes | None, key: bytes | None = b"run-1", **kw: Any) -> Any:
    return intake.process(value, key, SOURCE, NOW - 5, NOW, kw.get("headers"))


def chained(r: IntakeResult) -> dict[str, Any]:
    """The audit record the agent would write for ``r`` (chained, Avro round trip)."""
    (rec,) = ChainWriter("intake:3", None).append_fields(r.audit)
    return CODEC.decode("AuditRecord", CODEC.encode("AuditRecord", rec))


# -- policy effects --------------------------------------------------------------------


def test_allow_becomes_an_approved_outcome(parts: Intake) -> None:
    ev = event(trace_id="trace-1")
    value = CODEC.encode("WorkflowEvent", ev)
    r = run(stage(parts, StubPolicy("allow")), value)
    assert (r.outcome, r.topic, r.key, r.error_code) == (
        "approved",
        TOPICS.approved,
        ev["event_id"].encode(),
        None,
    )
    assert r.kind == ev["kind"] and r.event_id == ev["event_id"]
    assert r.cost_usd == pytest.approx(ev["cost_usd"]) and r.policy_errors == ()
    out = CODEC.decode("Outcome", r.value)
    assert out == {
        "event_id": ev["event_id"],
        "run_id": ev["run_id"],
        "workflow_id": ev["workflow_id"],
        "kind": ev["kind"],
        "trace_id": "trace-1",
        "outcome": "APPROVED",
        "source": "POLICY",
        "rule": "stub-allow",
        "policy_hash": POLICY_HASH,
        "reason": None,
        "reviewers": [],
        "findings": [],
        "event": value,  # clean and current: passed on byte for byte
        "content_hash": hashlib.sha256(value).hexdigest(),
        "reason_code": None,
        "producer_key_id": None,
        "received_at": NOW,
        "decided_at": NOW,
        "original_content_hash": None,  # set only when approved with amendments
        "amended_fields": [],
    }
    audit = chained(r)
    assert {k: audit[k] for k in ("stage", "transition", "outcome", "event_id", "source")} == {
        "stage": "intake",
        "transition": "approved",
        "outcome": "approved",
        "event_id": ev["event_id"],
        "source": f"{TOPICS.events}/3/41",
    }
    assert audit["content_hash"] == out["content_hash"] and audit["at"] == NOW
    assert (audit["actor_id"], audit["rule"], audit["policy_hash"]) == (
        ev["actor"]["id"],
        "stub-allow",
        POLICY_HASH,
    )
    assert audit["producer_key_id"] is None and "producer_key_id" not in r.audit


def test_deny_becomes_a_rejected_outcome(parts: Intake) -> None:
    ev = event()
    r = run(stage(parts, StubPolicy("deny")), CODEC.encode("WorkflowEvent", ev))
    assert (r.outcome, r.topic, r.key) == ("rejected", TOPICS.rejected, ev["event_id"].encode())
    assert r.policy_errors == ("broken-rule",)
    out = CODEC.decode("Outcome", r.value)
    assert (out["outcome"], out["source"], out["rule"], out["reason"]) == (
        "REJECTED",
        "POLICY",
        "stub-deny",
        "deny by stub",
    )
    audit = chained(r)
    assert (audit["transition"], audit["outcome"], audit["reason_code"]) == (
        "rejected",
        "rejected",
        "deny by stub",
    )


def test_hold_becomes_a_held_event_on_the_approvals_topic(parts: Intake) -> None:
    ev = event(on_behalf_of="user-9", content=f"deploy with {AWS} please")
    value = CODEC.encode("WorkflowEvent", ev)
    policy = StubPolicy("hold")
    r = run(stage(parts, policy), value)
    assert (r.outcome, r.topic, r.key) == ("held", TOPICS.approvals, ev["event_id"].encode())
    held = CODEC.decode("HeldEvent", r.value)
    # The sanitizer redacted the key: the held body is the clean event, re-encoded.
    assert held["event"] != value and AWS.encode() not in held["event"] and AWS not in repr(held)
    assert held["content_hash"] == hashlib.sha256(held["event"]).hexdigest()
    clean = CODEC.decode("WorkflowEvent", held["event"])
    assert clean == policy.seen[0][0]
    assert [f["detector"] for f in held["findings"]] == [f.detector for f in r.findings] != []
    assert {k: held[k] for k in ("event_id", "run_id", "workflow_id", "kind", "on_behalf_of")} == {
        k: ev[k] for k in ("event_id", "run_id", "workflow_id", "kind", "on_behalf_of")
    }
    assert held["actor_id"] == ev["actor"]["id"]
    assert (held["rule"], held["policy_hash"], held["reason"], held["risk_score"]) == (
        "stub-hold",
        POLICY_HASH,
        "hold by stub",
        0.5,
    )
    assert (held["roles"], held["approvals"], held["on_expiry"]) == (
        ["security", "data-steward"],
        2,
        "ESCALATE",
    )
    assert held["requirements"] == [
        {"role": "security", "count": 1, "level": 1},
        {"role": "data-steward", "count": 1, "level": 2},
    ]
    assert (held["escalate_roles"], held["escalate_ttl_ms"], held["escalate_approvals"]) == (
        ["ciso"],
        3600_000,
        1,
    )
    assert held["escalate_requirements"] == [{"role": "ciso", "count": 1, "level": 1}]
    assert held["escalate_carry_votes"] is True
    assert (held["received_at"], held["held_at"], held["expires_at"]) == (
        NOW,
        NOW,
        NOW + HOLD.ttl_ms,
    )
    audit = chained(r)
    assert (audit["transition"], audit["outcome"], audit["content_hash"]) == (
        "held",
        "held",
        held["content_hash"],
    )
    assert audit["detectors"] == sorted({f["detector"] for f in held["findings"]})


# -- the DLQ -----------------------------------------------------------------------------


def _replace(value: bytes, old: bytes, new: bytes) -> bytes:
    assert value.count(old) == 1 and len(old) == len(new)
    return value.replace(old, new)


def _valid() -> bytes:
    return CODEC.encode("WorkflowEvent", event(workflow_id="wf-dlq", step=f"step {AWS}"))


#: Another record type than intake reads.
FINDING = {"kind": "secret", "detector": "aws", "field": "step", "start": 0, "end": 1}

#: (code, the bad record). Each event carries a secret the DLQ record must not show.
DECODE_CASES = [
    (ErrorCode.TRUNCATED, lambda: None),  # a tombstone
    (ErrorCode.TRUNCATED, lambda: b"\xc3\x01\x00"),
    (ErrorCode.TRUNCATED, lambda: _valid()[:-30]),
    (ErrorCode.BAD_MAGIC, lambda: b"\x00" + _valid()[1:]),
    (ErrorCode.UNKNOWN_FINGERPRINT, lambda: b"\xc3\x01" + b"\x00" * 8 + _valid()[10:]),
    (
        ErrorCode.WRONG_SCHEMA,
        lambda: CODEC.encode("Finding", FINDING),
    ),
    (ErrorCode.TRAILING_BYTES, lambda: _valid() + b"\x00"),
    (ErrorCode.INVALID_UTF8, lambda: _replace(_valid(), b"wf-dlq", b"wf\xffdlq")),
    (ErrorCode.MALFORMED_AVRO, lambda: _enum_index_99()),
]


def _enum_index_99() -> bytes:
    """A WorkflowEvent whose ``kind`` (after four short strings) is enum index 99."""
    ev = event(workflow_id="wf-dlq", step=f"step {AWS}", kind="PROMPT")
    value = CODEC.encode("WorkflowEvent", ev)
    at = 10 + sum(1 + len(ev[f].encode()) for f in ("event_id", "workflow_id", "run_id", "step"))
    assert value[at] == 0  # PROMPT is symbol 0; 99 zig-zags to 0xc6 0x01
    return value[:at] + b"\xc6\x01" + value[at + 1 :]


VALIDATION_CASES = [
    (ErrorCode.INVALID_UUID, {"event_id": "not-a-uuid"}),
    (ErrorCode.EMPTY_FIELD, {"action": ""}),
    (ErrorCode.FIELD_TOO_LONG, {"action": "a" * 5000}),
    (ErrorCode.TOO_MANY_ENTRIES, {"attributes": {f"k{i}": "v" for i in range(200)}}),
    (ErrorCode.OUT_OF_RANGE, {"confidence": 2.0}),
    (ErrorCode.INVALID_TEXT, {"resource": "a\x00b"}),
    (ErrorCode.TIMESTAMP_OUT_OF_WINDOW, {"occurred_at": NOW - 30 * 86400_000}),
]


def _dead(r: IntakeResult, code: ErrorCode) -> dict[str, Any]:
    assert (r.outcome, r.kind, r.topic, r.error_code) == ("invalid", "unknown", TOPICS.dlq, code)
    dead = CODEC.decode("DeadLetter", r.value)
    assert dead["error_code"] == code
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == SOURCE
    assert (dead["source_timestamp"], dead["failed_at"]) == (NOW - 5, NOW)
    audit = chained(r)
    assert (audit["stage"], audit["transition"], audit["outcome"], audit["reason_code"]) == (
        "intake",
        "invalid",
        "invalid",
        code,
    )
    assert audit["event_id"] == dead["event_id"] == r.event_id
    for blob in (r.value, r.key or b"", repr(r.audit).encode(), repr(dead).encode()):
        assert AWS.encode() not in blob
        for secret in (HMAC_SECRET, OTHER_SECRET):
            assert secret not in blob
    return dead


@pytest.mark.parametrize(
    ("code", "make"), DECODE_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(DECODE_CASES)]
)
def test_undecodable_records_go_to_the_dlq(parts: Intake, code: ErrorCode, make: Any) -> None:
    value = make()
    r = run(stage(parts, StubPolicy()), value, key=f"run-{AWS}".encode())
    dead = _dead(r, code)
    payload = value or b""
    assert dead["payload_size"] == len(payload)
    assert dead["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert r.key is not None and b"REDACTED" in r.key


@pytest.mark.parametrize(("code", "over"), VALIDATION_CASES, ids=[c for c, _ in VALIDATION_CASES])
def test_invalid_events_go_to_the_dlq(parts: Intake, code: ErrorCode, over: Any) -> None:
    ev = event(step=f"step {AWS}", **over)
    value = CODEC.encode("WorkflowEvent", ev)
    dead = _dead(run(stage(parts, StubPolicy()), value), code)
    assert dead["schema_fingerprint"] == CODEC.fingerprint("WorkflowEvent").hex()
    # Salvaged: the event id (when it is one) and a short, redacted preview.
    assert dead["event_id"] == (None if code == ErrorCode.INVALID_UUID else ev["event_id"])
    assert dead["preview"] is not None and "REDACTED" in dead["preview"]
    assert len(dead["preview"]) <= 120


def test_oversize_records_go_to_the_dlq_unread(parts: Intake) -> None:
    policy = StubPolicy()
    value = _valid()
    dead = _dead(
        run(stage(parts, policy, max_record_bytes=len(value) - 1), value),
        ErrorCode.RECORD_TOO_LARGE,
    )
    assert dead["payload_size"] == len(value) and policy.seen == []


def test_an_internal_error_costs_one_record_and_shows_no_message(parts: Intake) -> None:
    r = run(stage(parts, StubPolicy(raises=True)), _valid())
    dead = _dead(r, ErrorCode.INTERNAL_ERROR)
    assert dead["detail"] == "internal error (RuntimeError)"


# -- producer authentication ------------------------------------------------------------

ACTOR = "agent-7"
SIGNER = ProducerSigner("agent-7-key", "hmac-sha256", secret=HMAC_SECRET)
REVOKED = ProducerSigner("old-key", "hmac-sha256", secret=OTHER_SECRET)


@pytest.fixture(scope="module")
def producers() -> ProducerRegistry:
    def key(signer: ProducerSigner, secret: bytes, revoked: bool = False) -> ProducerKey:
        return ProducerKey(
            signer.key_id,
            "hmac-sha256",
            frozenset({fold_id(ACTOR)}),
            frozenset({fold_id("wf-ok")}),
            revoked=revoked,
            secret=secret,
        )

    return ProducerRegistry([key(SIGNER, HMAC_SECRET), key(REVOKED, OTHER_SECRET, True)])


def _signed(signer: ProducerSigner, **over: Any) -> tuple[bytes, bytes, list[Any]]:
    ev = event(
        **{"actor": {"id": ACTOR, "type": "AGENT", "roles": []}, "workflow_id": "wf-ok", **over}
    )
    key, value = ev["run_id"].encode(), CODEC.encode("WorkflowEvent", ev)
    return key, value, signer.headers(TOPICS.events, key, value)


PRODUCER_CASES = [
    (ErrorCode.PRODUCER_UNSIGNED, lambda k, v, h: (v, None)),
    (ErrorCode.PRODUCER_MALFORMED, lambda k, v, h: (v, [h[0], h[1], h[1]])),
    (
        ErrorCode.PRODUCER_UNKNOWN_KEY,
        lambda k, v, h: (v, [(HEADER_KEY, HMAC_SECRET), h[1]]),  # a secret as the key id
    ),
    (ErrorCode.PRODUCER_BAD_SIGNATURE, lambda k, v, h: (v[:-1] + b"\x02", h)),
]


@pytest.mark.parametrize(("code", "tamper"), PRODUCER_CASES, ids=[c for c, _ in PRODUCER_CASES])
def test_producer_refusals_go_to_the_dlq(
    parts: Intake, producers: ProducerRegistry, code: ErrorCode, tamper: Any
) -> None:
    key, value, headers = _signed(SIGNER)
    value, headers = tamper(key, value, headers)
    r = run(stage(parts, StubPolicy(), producers=producers), value, key=key, headers=headers)
    _dead(r, code)
    tag = dict(_signed(SIGNER)[2])[HEADER_SIG]
    assert tag not in r.value


def test_revoked_and_unauthorized_producers_go_to_the_dlq(
    parts: Intake, producers: ProducerRegistry
) -> None:
    intake = stage(parts, StubPolicy(), producers=producers)
    key, value, headers = _signed(REVOKED)
    _dead(run(intake, value, key=key, headers=headers), ErrorCode.PRODUCER_REVOKED_KEY)
    key, value, headers = _signed(SIGNER, workflow_id="wf-elsewhere")
    _dead(run(intake, value, key=key, headers=headers), ErrorCode.PRODUCER_NOT_AUTHORIZED)


def test_an_authenticated_record_carries_its_key_id(
    parts: Intake, producers: ProducerRegistry
) -> None:
    for effect, schema in (("allow", "Outcome"), ("hold", "HeldEvent")):
        key, value, headers = _signed(SIGNER)
        r = run(
            stage(parts, StubPolicy(effect), producers=producers), value, key=key, headers=headers
        )
        assert CODEC.decode(schema, r.value)["producer_key_id"] == SIGNER.key_id
        assert r.audit["producer_key_id"] == chained(r)["producer_key_id"] == SIGNER.key_id
