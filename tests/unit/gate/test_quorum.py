"""The gate state machine: quorum, rejection, expiry, refusals, and release-once as a property."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.gate.quorum import Entry, GateState
from sluice.gate.reviewers import registry_from_data
from sluice.gate.signatures import build_decision, sign_decision

KEYS = {rid: Ed25519PrivateKey.generate() for rid in ("a", "b", "c", "fin", "actor", "obo")}
ROLES = {"a": ["rm"], "b": ["rm"], "c": ["rm"], "fin": ["finance"], "actor": ["rm"], "obo": ["rm"]}
REGISTRY = registry_from_data(
    {
        "reviewers": [
            {
                "id": rid,
                "roles": ROLES[rid],
                "keys": [
                    {
                        "id": f"{rid}-1",
                        "public_key": base64.b64encode(
                            k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                        ).decode(),
                    }
                ],
            }
            for rid, k in KEYS.items()
        ]
    }
)
EID = "6f1c2a4e-1111-4222-8333-444455556666"
BODY = b"x"
H = hashlib.sha256(BODY).hexdigest()


def held(expires_at: int = 10_000, approvals: int = 2, on_expiry: str = "REJECT") -> dict[str, Any]:
    return {
        "event_id": EID,
        "run_id": "r",
        "workflow_id": "w",
        "kind": "CODE_PUBLISH",
        "actor_id": "actor",
        "on_behalf_of": "obo",
        "trace_id": None,
        "event": BODY,
        "content_hash": H,
        "findings": [],
        "rule": "code-publish",
        "policy_hash": "p",
        "reason": None,
        "risk_score": 0.5,
        "roles": ["rm"],
        "approvals": approvals,
        "on_expiry": on_expiry,
        "escalate_roles": ["fin"],
        "escalate_ttl_ms": 1000,
        "received_at": 0,
        "held_at": 0,
        "expires_at": expires_at,
    }


def dec(
    rid: str,
    verdict: str = "APPROVE",
    *,
    did: str | None = None,
    reason: str = "r",
    content_hash: str = H,
    signer: str | None = None,
    at: int = 0,
) -> dict[str, Any]:
    d = build_decision(
        event_id=EID,
        verdict=verdict,
        reviewer_id=rid,
        key_id=f"{rid}-1",
        content_hash=content_hash,
        reason=reason,
        decision_id=did,
        decided_at=at,
    )
    d["signature"] = sign_decision(d, KEYS[signer or rid])
    return d


def kinds(effects: list[Any]) -> list[str]:
    return [e.kind for e in effects]


def releases(effects: list[Any]) -> list[dict[str, Any]]:
    return [e.data for e in effects if e.kind == "release"]


def refusals(effects: list[Any]) -> list[str]:
    return [e.data["reason"] for e in effects if e.kind == "refused"]


def test_quorum_releases_once() -> None:
    g = GateState(REGISTRY)
    g.on_held(held(), b"raw", 0)
    assert not releases(g.on_decision(dec("a"), 1, 1))
    out = g.on_decision(dec("b"), 2, 2)
    assert releases(out)[0]["outcome"] == "APPROVED" and releases(out)[0]["reviewers"] == ["a", "b"]
    assert refusals(g.on_decision(dec("c"), 3, 3)) == ["already_decided"]


def test_any_reject_rejects() -> None:
    g = GateState(REGISTRY)
    g.on_held(held(), b"raw", 0)
    g.on_decision(dec("a"), 1, 1)
    out = g.on_decision(dec("b", "REJECT", reason="no"), 2, 2)
    assert releases(out)[0]["outcome"] == "REJECTED"


def test_refusals() -> None:
    g = GateState(REGISTRY)
    g.on_held(held(), b"raw", 0)
    d = dec("a")
    assert refusals(g.on_decision(dec("a", signer="b"), 1, 1)) == ["bad_signature"]
    assert refusals(g.on_decision(dec("fin"), 1, 1)) == ["wrong_role"]
    assert refusals(g.on_decision(dec("actor"), 1, 1)) == ["self_approval"]
    assert refusals(g.on_decision(dec("obo"), 1, 1)) == ["self_approval"]
    assert refusals(g.on_decision(dec("a", content_hash="0" * 64), 1, 1)) == ["content_mismatch"]
    assert refusals(g.on_decision(dec("b", "REJECT", reason=" "), 1, 1)) == ["missing_reason"]
    assert refusals(g.on_decision(d, 1, 1)) == []
    assert refusals(g.on_decision(d, 1, 1)) == ["replay"]
    assert refusals(g.on_decision(dec("a"), 1, 1)) == ["duplicate_vote"]
    assert refusals(g.on_decision(dec("b"), 20_000, 20_000)) == ["expired"]


def test_expiry_rejects_and_escalation() -> None:
    g = GateState(REGISTRY)
    g.on_held(held(expires_at=100), b"raw", 0)
    out = g.tick(101)
    assert releases(out)[0]["source"] == "EXPIRY" and releases(out)[0]["outcome"] == "REJECTED"
    assert not releases(g.tick(10**9))
    g2 = GateState(REGISTRY)
    g2.on_held(held(expires_at=100, on_expiry="ESCALATE"), b"raw", 0)
    out = g2.tick(101)
    assert "republish" in kinds(out) and not releases(out)
    assert releases(g2.on_decision(dec("fin"), 150, 150)) == []  # 1 of 2 approvals, escalated role
    assert releases(g2.tick(2000))[0]["source"] == "EXPIRY"


def test_early_decision_waits_for_its_event() -> None:
    g = GateState(REGISTRY)
    assert not releases(g.on_decision(dec("a"), 1, 1))
    assert not releases(g.on_decision(dec("b"), 2, 2))
    out = g.on_held(held(), b"raw", 3)
    assert releases(out)[0]["outcome"] == "APPROVED"


def test_changelog_round_trip() -> None:
    g = GateState(REGISTRY)
    g.on_held(held(), b"raw", 0)
    g.on_decision(dec("a"), 1, 1)
    e = g.entries[EID]
    back = Entry.from_bytes(e.to_bytes())
    assert back == e
    g2 = GateState(REGISTRY)
    g2.restore(back, EID)
    assert releases(g2.on_decision(dec("b"), 2, 2))


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "fin", "actor", "obo"]),
        st.sampled_from(["APPROVE", "REJECT"]),
        st.booleans(),
        st.integers(0, 20_000),
        st.booleans(),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(ACTIONS, st.integers(1, 3), st.booleans())
def test_no_sequence_releases_twice(
    actions: list[tuple[str, str, bool, int, bool]], approvals: int, restart: bool
) -> None:
    g = GateState(REGISTRY)
    released = releases(g.on_held(held(approvals=approvals), b"raw", 0))
    seen: list[dict[str, Any]] = []
    for rid, verdict, replay, t, tick in actions:
        d = seen[-1] if replay and seen else dec(rid, verdict)
        seen.append(d)
        released += releases(g.on_decision(d, t, t))
        if tick:
            released += releases(g.tick(t))
        if restart:  # a crash: rebuild from the changelog form
            e = g.entries.get(EID)
            g = GateState(REGISTRY)
            if e is not None:
                g.restore(Entry.from_bytes(e.to_bytes()), EID)
        released += releases(g.on_held(held(approvals=approvals), b"raw", t))  # redelivery
    released += releases(g.tick(10**9))
    assert len(released) <= 1
