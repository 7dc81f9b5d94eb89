"""The review queue's pure views: ordering, filtering, votes and their validity."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.gate.queue import QueueState, queue_entries, vote_view
from sluice.gate.reviewers import registry_from_data
from sluice.gate.signatures import build_decision, public_key_to_b64, sign_decision

KEY = Ed25519PrivateKey.generate()
REGISTRY = registry_from_data(
    {
        "reviewers": [
            {
                "id": "alice",
                "roles": ["security"],
                "keys": [{"id": "a1", "public_key": public_key_to_b64(KEY.public_key())}],
            }
        ]
    }
)


def held(eid: str, held_at: int, roles: list[str], ttl: int = 1000) -> dict[str, Any]:
    raw = eid.encode()
    return {
        "event_id": eid,
        "run_id": "r",
        "workflow_id": "w",
        "kind": "TOOL_CALL",
        "actor_id": "agent",
        "on_behalf_of": None,
        "trace_id": None,
        "event": raw,
        "content_hash": hashlib.sha256(raw).hexdigest(),
        "findings": [
            {"kind": "pii", "detector": "email"},
            {"kind": "pii", "detector": "email"},
            {"kind": "secret", "detector": "jwt"},
        ],
        "rule": "r1",
        "policy_hash": "p",
        "reason": None,
        "risk_score": 0.5,
        "roles": roles,
        "approvals": 2,
        "on_expiry": "REJECT",
        "received_at": held_at,
        "held_at": held_at,
        "expires_at": held_at + ttl,
    }


def vote(h: dict[str, Any], verdict: str = "APPROVE", **over: Any) -> dict[str, Any]:
    d = build_decision(
        event_id=h["event_id"],
        verdict=verdict,
        reviewer_id="alice",
        key_id="a1",
        content_hash=h["content_hash"],
        decided_at=1,
    )
    sign_decision(d, KEY)
    d.update(over)
    return d


def test_queue_order_release_filter_and_expiry() -> None:
    state = QueueState()
    for h in (
        held("b", 200, ["security"]),
        held("a", 100, ["finance"]),
        held("c", 300, ["security"]),
    ):
        state.add_held(h)
    state.add_held(held("c", 50, ["security"], ttl=10_000))  # a later record replaces the earlier
    state.released["b"] = "approved"
    entries = queue_entries(state, now_ms=1_000)
    assert [e["event_id"] for e in entries] == ["c", "a"]
    assert [e["expired"] for e in entries] == [False, False]
    assert entries[0]["time_left_s"] == 9.05
    assert queue_entries(state, now_ms=1_100)[1]["expired"] is True
    assert [e["event_id"] for e in queue_entries(state, 0, role="finance")] == ["a"]
    assert queue_entries(state, 0, role="nobody") == []
    assert entries[1]["risk"] == {
        "score": 0.5,
        "kinds": {"pii": 2, "secret": 1},
        "detectors": ["email", "jwt"],
    }


def test_votes_are_checked_when_a_registry_is_given() -> None:
    h = held("e", 0, ["security"])
    good = vote(h)
    assert vote_view(good, h, REGISTRY)["valid"] is True
    assert vote_view(good, h, None)["valid"] is None
    forged = vote(h, verdict="APPROVE", reason="changed after signing")
    assert vote_view(forged, h, REGISTRY)["refusal"] == "bad_signature"
    other = vote(h, content_hash="0" * 64)
    view = vote_view(other, h, None)
    assert view["valid"] is False and view["refusal"] == "content_hash_mismatch"


def test_invalid_votes_do_not_count_towards_quorum() -> None:
    state = QueueState()
    h = held("e", 0, ["security"])
    state.add_held(h)
    state.add_vote(vote(h))
    state.add_vote(vote(h))  # the same reviewer twice counts once
    state.add_vote(vote(h, "REJECT", reviewer_id="mallory"))  # unknown reviewer
    (entry,) = queue_entries(state, 0, registry=REGISTRY)
    assert entry["approvals"] == 1
    assert entry["rejections"] == 0
    assert [v["refusal"] for v in entry["votes"]] == [None, None, "unknown_reviewer"]
