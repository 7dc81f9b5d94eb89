"""Red team: approve with amendments (sluice.gate.amend, quorum, signatures).

Separation of duties: a reviewer who rewrites a held event becomes its author; the
amended bytes must be approved by someone besides them, even under a one-approval hold.
Plus the signature-form and hash-swap cases that must stay refused.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from sluice.gate.amend import AmendmentChecker
from sluice.gate.quorum import GateState
from sluice.gate.signatures import canonical_bytes, sign_decision
from sluice.models.records import held_event_record
from sluice.sanitize import Sanitizer
from sluice.validate import Validator
from tests.unit.gate.test_amend import (
    CODEC,
    DROP_CC,
    EID,
    KEYS,
    NOW,
    REGISTRY,
    amended,
    dec,
    event,
    refusals,
    releases,
)


@pytest.fixture(scope="module")
def sanitizer() -> Sanitizer:
    return Sanitizer(b"k" * 32, pi_classifier=False)


@pytest.fixture(scope="module")
def checker(sanitizer: Sanitizer) -> AmendmentChecker:
    return AmendmentChecker(Validator(), sanitizer)


def _held(sanitizer: Sanitizer, approvals: int) -> tuple[dict[str, Any], bytes]:
    clean, findings = sanitizer.sanitize_event(event())
    body = CODEC.encode("WorkflowEvent", clean)
    rec = held_event_record(
        event_id=EID,
        run_id="run-1",
        workflow_id="wf-1",
        kind="MESSAGE_SEND",
        actor_id="actor",
        on_behalf_of=None,
        trace_id=None,
        event=body,
        content_hash=hashlib.sha256(body).hexdigest(),
        findings=[f.to_avro() for f in findings],
        rule="message-send",
        policy_hash="p",
        reason=None,
        risk_score=0.5,
        roles=["rm"],
        approvals=approvals,
        on_expiry="REJECT",
        escalate_roles=[],
        escalate_ttl_ms=0,
        requirements=[],
        escalate_approvals=0,
        escalate_requirements=[],
        escalate_carry_votes=False,
        producer_key_id=None,
        received_at=NOW,
        held_at=NOW,
        expires_at=NOW + 3_600_000,
    )
    raw = CODEC.encode("HeldEvent", rec)
    return CODEC.decode("HeldEvent", raw), raw


@pytest.fixture(scope="module")
def held1(sanitizer: Sanitizer) -> tuple[dict[str, Any], bytes]:
    return _held(sanitizer, 1)


def _gate(checker: AmendmentChecker, held: tuple[dict[str, Any], bytes]) -> GateState:
    g = GateState(REGISTRY, amendments=checker)
    g.on_held(held[0], held[1], NOW)
    return g


def test_the_amender_alone_cannot_release_an_amendment_under_a_one_approval_hold(
    checker: AmendmentChecker, held1: Any, sanitizer: Any
) -> None:
    g = _gate(checker, held1)
    a = amended(held1, {"arguments": {"to": "carol@example.com"}}, sanitizer)
    out = g.on_decision(dec("a", held1, a), NOW + 2, NOW + 2)
    assert not releases(out) and g.entries[EID].status == "open"
    # a second reviewer who signs the same bytes releases them
    (rel,) = releases(g.on_decision(dec("b", held1, a), NOW + 3, NOW + 3))
    assert rel["amended"] == a and rel["reviewers"] == ["a", "b"]


def test_a_one_approval_hold_still_releases_the_original_on_one_vote(
    checker: AmendmentChecker, held1: Any
) -> None:
    g = _gate(checker, held1)
    (rel,) = releases(g.on_decision(dec("a", held1), NOW + 2, NOW + 2))
    assert rel["reviewers"] == ["a"] and not rel.get("amended")


def test_an_amendment_signature_does_not_verify_with_its_hash_stripped_or_swapped(
    checker: AmendmentChecker, held1: Any, sanitizer: Any
) -> None:
    g = _gate(checker, held1)
    a = amended(held1, DROP_CC, sanitizer)
    b = amended(held1, {"content": "Hello."}, sanitizer)
    d = dec("a", held1, a)
    stripped = {k: v for k, v in d.items() if k not in ("amended_hash", "amended_event")}
    v1 = dec("b", held1)
    as_v2 = {**v1, "amended_event": a, "amended_hash": hashlib.sha256(a).hexdigest()}
    swapped = {**dec("c", held1, a), "amended_event": b}  # bytes of another amendment
    rehashed = {  # the signed hash swapped for the other bytes' hash
        **dec("c", held1, a),
        "amended_event": b,
        "amended_hash": hashlib.sha256(b).hexdigest(),
    }
    out = []
    for x in (stripped, as_v2, swapped, rehashed):
        out += refusals(g.on_decision(x, NOW + 2, NOW + 2))
    assert out == ["bad_signature", "bad_signature", "amendment_hash_mismatch", "bad_signature"]
    assert g.entries[EID].status == "open"


def test_an_empty_amended_hash_is_a_vote_for_the_original_not_the_bytes_carried(
    checker: AmendmentChecker, held1: Any, sanitizer: Any
) -> None:
    """amended_hash "" signs the v2 form but names no amendment: whatever bytes ride
    along are never released (the held bytes are)."""
    g = _gate(checker, held1)
    a = amended(held1, DROP_CC, sanitizer)
    d = dec("a", held1)
    d["amended_hash"], d["amended_event"] = "", a
    sign_decision(d, KEYS["a"])
    assert canonical_bytes(d).startswith(b"sluice.decision.v2\n")
    rels = releases(g.on_decision(d, NOW + 2, NOW + 2))
    assert all(not r.get("amended") for r in rels)
    for r in rels:
        assert r["content_hash"] == held1[0]["content_hash"]


@pytest.fixture(scope="module")
def held_expiry_approve(sanitizer: Sanitizer) -> tuple[dict[str, Any], bytes]:
    h, _ = _held(sanitizer, 2)
    rec = {**h, "on_expiry": "APPROVE"}
    raw = CODEC.encode("HeldEvent", rec)
    return CODEC.decode("HeldEvent", raw), raw


def test_expiry_never_names_an_amendment_voter_as_approving_the_original(
    checker: AmendmentChecker, held_expiry_approve: Any, sanitizer: Any
) -> None:
    """on_expiry APPROVE releases the held bytes: a reviewer who approved only an
    amended version (say, without the cc) did not approve them and must not be listed
    among the release's reviewers or decisions."""
    h = held_expiry_approve
    g = _gate(checker, h)
    a = amended(h, DROP_CC, sanitizer)
    d_amend = dec("a", h, a)
    d_orig = dec("b", h)
    g.on_decision(d_amend, NOW + 2, NOW + 2)
    g.on_decision(d_orig, NOW + 3, NOW + 3)
    (rel,) = releases(g.tick(h[0]["expires_at"] + 1))
    assert rel["outcome"] == "APPROVED" and rel["source"] == "EXPIRY"
    assert not rel.get("amended")
    assert rel["reviewers"] == ["b"]
    assert rel["decisions"] == [d_orig["decision_id"]]
