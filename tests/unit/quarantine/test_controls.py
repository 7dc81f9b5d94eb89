"""Quarantine controls as an attacker sees them: forged, replayed, unauthorized, look-alike.

Pure: :class:`sluice.quarantine.Controls` folds decoded control records; no broker.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.gate.reviewers import registry_from_data
from sluice.gate.signatures import build_decision, canonical_bytes, sign_decision
from sluice.policy.model import Assessment, HoldSpec, Problem
from sluice.quarantine import ControlRefusal, Controls, QuarantineConfig
from sluice.quarantine.config import parse_quarantine_config
from sluice.quarantine.records import (
    build_control,
    control_bytes,
    decode_control,
    encode_control,
    sign_control,
)
from tests.helpers import reviewers_data

NOW = 1_800_000_000_000
ROLES = {
    "sec1": ["security"],
    "sec2": ["security"],
    "sec3": ["security"],
    "fin": ["finance"],
    "bob": ["security"],  # also the name of a quarantined actor below
}
KEYS = {rid: Ed25519PrivateKey.generate() for rid in ROLES}
REGISTRY = registry_from_data(reviewers_data(KEYS, ROLES, revoked={"sec3"}))


def signed(reviewer: str, *, signer: str | None = None, **fields: Any) -> dict[str, Any]:
    """A control by ``reviewer`` signed with ``signer``'s key, through encode → decode."""
    fields.setdefault("reason", "runaway agent")
    fields.setdefault("subject_type", "actor")
    fields.setdefault("subject", "agent-7")
    fields.setdefault("issued_at", NOW)
    c = build_control(reviewer_id=reviewer, key_id=f"{reviewer}-k1", **fields)
    sign_control(c, KEYS[signer or reviewer])
    out = decode_control(encode_control(c))
    assert out is not None
    return out


def lift(qid: str, reviewer: str, **fields: Any) -> dict[str, Any]:
    return signed(reviewer, action="lift", quarantine_id=qid, **fields)


def allow() -> Assessment:
    return Assessment("allow", "routine", None, None, "h", 0.1)


def event(actor: str = "agent-7", workflow: str = "wf-1", run: str = "run-1") -> dict[str, Any]:
    return {"actor": {"id": actor}, "workflow_id": workflow, "run_id": run}


@pytest.fixture
def controls() -> Controls:
    return Controls(REGISTRY, QuarantineConfig())


def engaged(controls: Controls, **fields: Any) -> str:
    c = signed("sec1", action="add", **fields)
    assert controls.apply(c, NOW).result == "added"
    return str(c["quarantine_id"])


def test_add_holds_the_subject_under_rule_quarantine_and_others_pass(controls: Controls) -> None:
    engaged(controls)
    a = controls.override(allow(), event(), NOW)
    assert (a.outcome, a.rule) == ("hold", "quarantine")
    assert a.hold is not None and a.hold.roles == ("security",)
    assert "runaway agent" in (a.reason or "")
    assert controls.override(allow(), event(actor="agent-8"), NOW).outcome == "allow"
    assert controls.hits == {("held", "actor"): 1}


def test_reject_mode_denies_and_a_policy_hold_is_combined(controls: Controls) -> None:
    engaged(controls, subject_type="workflow", subject="wf-9", mode="reject")
    a = controls.override(allow(), event(workflow="wf-9"), NOW)
    assert (a.outcome, a.rule) == ("deny", "quarantine")
    engaged(controls, subject_type="run", subject="run-5")
    policy_hold = Assessment(
        "hold", "code", None, HoldSpec(roles=("release",), approvals=2, ttl_ms=1000), "h", 0.5
    )
    a = controls.override(policy_hold, event(run="run-5"), NOW)
    assert a.rule == "quarantine" and a.hold is not None
    assert {r.role for r in a.hold.requirements} == {"security", "release"}, "both must sign"


def test_unsigned_and_wrongly_signed_controls_are_refused(controls: Controls) -> None:
    c = build_control(
        action="add",
        subject_type="actor",
        subject="x",
        reviewer_id="sec1",
        key_id="sec1-k1",
        reason="r",
        issued_at=NOW,
    )
    assert controls.apply(decode_control(encode_control(c)), NOW).refusal == (
        ControlRefusal.BAD_SIGNATURE  # empty signature
    )
    forged = signed("sec1", signer="fin", action="add")  # fin's key, claiming sec1
    assert controls.apply(forged, NOW).refusal == ControlRefusal.BAD_SIGNATURE
    tampered = signed("sec1", action="add")
    tampered["subject"] = "someone-else"  # signature over another subject
    assert controls.apply(tampered, NOW).refusal == ControlRefusal.BAD_SIGNATURE
    revoked = signed("sec3", action="add")
    assert controls.apply(revoked, NOW).refusal == ControlRefusal.REVOKED_KEY
    assert controls.apply(decode_control(b'{"format":"x"}'), NOW).refusal == (
        ControlRefusal.MALFORMED
    )
    assert decode_control(b"{" * 20_000) is None, "oversized records are never parsed"
    assert not controls.active


def test_a_decision_signature_never_verifies_as_a_control(controls: Controls) -> None:
    d = build_decision(
        event_id="e", verdict="APPROVE", reviewer_id="sec1", key_id="sec1-k1", content_hash="0"
    )
    sign_decision(d, KEYS["sec1"])
    c = signed("sec1", action="add")
    c["signature"] = d["signature"]
    assert controls.apply(c, NOW).refusal == ControlRefusal.BAD_SIGNATURE
    assert control_bytes(c)[:18] != canonical_bytes(d)[:18]


def test_signer_without_the_role_and_unknown_spellings(controls: Controls) -> None:
    assert controls.apply(signed("fin", action="add"), NOW).refusal == ControlRefusal.WRONG_ROLE
    qid = engaged(controls)
    assert controls.apply(lift(qid, "fin"), NOW).refusal == ControlRefusal.WRONG_ROLE
    # Another spelling of a registered reviewer (as for decisions): refused.
    c = build_control(
        action="add",
        subject_type="actor",
        subject="x",
        reviewer_id="SEC1",
        key_id="sec1-k1",
        reason="r",
        issued_at=NOW,
    )
    sign_control(c, KEYS["sec1"])
    assert controls.apply(c, NOW).refusal == ControlRefusal.UNKNOWN_REVIEWER


def test_replayed_control_id_is_refused(controls: Controls) -> None:
    c = signed("sec1", action="add")
    assert controls.apply(c, NOW).result == "added"
    assert controls.apply(dict(c), NOW).refusal == ControlRefusal.REPLAYED
    qid = str(c["quarantine_id"])
    v = lift(qid, "sec1")
    assert controls.apply(v, NOW).result == "lift_counted"
    assert controls.apply(dict(v), NOW).refusal == ControlRefusal.REPLAYED
    # Lifted, then the original add replayed under a new record: still lifted.
    assert controls.apply(lift(qid, "sec2"), NOW).result == "lifted"
    assert controls.apply(dict(c), NOW).refusal == ControlRefusal.REPLAYED
    assert controls.override(allow(), event(), NOW).outcome == "allow"


def test_lift_needs_two_distinct_security_reviewers(controls: Controls) -> None:
    qid = engaged(controls)
    assert controls.apply(lift(qid, "sec1"), NOW).result == "lift_counted"
    assert controls.override(allow(), event(), NOW).outcome == "hold", "one vote does not lift"
    # The same reviewer again, with a fresh control id: not a second vote.
    assert controls.apply(lift(qid, "sec1"), NOW).refusal == ControlRefusal.DUPLICATE_VOTE
    assert controls.override(allow(), event(), NOW).outcome == "hold"
    assert controls.apply(lift(qid, "sec2"), NOW).result == "lifted"
    assert controls.override(allow(), event(), NOW).outcome == "allow"
    assert controls.apply(lift(qid, "bob"), NOW).refusal == ControlRefusal.NOT_IN_FORCE


def test_lift_vote_cannot_be_moved_to_another_subject(controls: Controls) -> None:
    qid = engaged(controls)
    v = lift(qid, "sec1", subject="agent-8")  # signed, but over another subject
    assert controls.apply(v, NOW).refusal == ControlRefusal.SUBJECT_MISMATCH


@pytest.mark.parametrize(
    "spelling",
    [
        "AGENT-7",
        "\uff41gent-7",
        "\u0430gent-7",
        "agent\u200b-7",
        " agent-7 ",
        "agent-\u0437"[:0] + "agent-7",
    ],
)
def test_look_alike_actor_ids_are_held_too(controls: Controls, spelling: str) -> None:
    engaged(controls)
    assert controls.override(allow(), event(actor=spelling), NOW).rule == "quarantine"


def test_look_alike_quarantine_of_a_reviewer_blocks_their_own_lift(controls: Controls) -> None:
    qid = engaged(controls, subject="B0B")  # reads as the reviewer "bob"
    assert controls.apply(lift(qid, "bob", subject="B0B"), NOW).refusal == ControlRefusal.SELF_LIFT


def test_expired_until_is_refused_and_a_lapsed_one_stops_holding(controls: Controls) -> None:
    past = signed("sec1", action="add", until=NOW - 1)
    assert controls.apply(past, NOW).refusal == ControlRefusal.EXPIRED
    engaged(controls, until=NOW + 60_000)
    assert controls.override(allow(), event(), NOW).outcome == "hold"
    assert controls.override(allow(), event(), NOW + 60_000).outcome == "allow"
    assert controls.counts(NOW + 60_000)["actor"] == 0


def test_votes_before_their_add_count_once_it_arrives(controls: Controls) -> None:
    add = signed("sec1", action="add")
    qid = str(add["quarantine_id"])
    assert controls.apply(lift(qid, "sec1"), NOW).result == "pending"
    assert controls.apply(lift(qid, "sec2"), NOW).result == "pending"
    assert controls.apply(add, NOW).result == "lifted"
    assert not controls.in_force(NOW)


def test_state_is_bounded() -> None:
    c = Controls(REGISTRY, QuarantineConfig(), max_quarantines=2, max_pending=1, max_seen=3)
    for _ in range(2):
        engaged(c, subject=f"a{_}")
    assert c.apply(signed("sec1", action="add"), NOW).refusal == ControlRefusal.TOO_MANY
    assert c.apply(lift("q-unknown-1", "sec1"), NOW).result == "pending"
    assert c.apply(lift("q-unknown-2", "sec1"), NOW).refusal == ControlRefusal.TOO_MANY
    assert len(c._seen) <= 3


def test_config_section_parses_and_reports_problems() -> None:
    problems: list[Problem] = []
    cfg = parse_quarantine_config(
        {
            "quarantine": {
                "lift": {"roles": ["sre", "security"], "approvals": 3},
                "hold": {"ttl": "1h"},
            }
        },
        problems,
    )
    assert not problems
    assert cfg.lift_roles == {"sre", "security"} and cfg.lift_approvals == 3
    assert cfg.hold.ttl_ms == 3_600_000
    parse_quarantine_config({"quarantine": {"lift": {"approvals": 0}, "bogus": {}}}, problems)
    assert len(problems) == 2
    three = Controls(REGISTRY, cfg)
    qid = engaged(three)
    assert three.apply(lift(qid, "sec1"), NOW).result == "lift_counted"
    assert three.apply(lift(qid, "sec2"), NOW).result == "lift_counted", "3 needed"


def test_open_holds_of_the_subject_are_found_look_alikes_included() -> None:
    from sluice.quarantine.client import matching_holds

    entries = [
        {"event_id": "1", "actor_id": "agent-7", "workflow_id": "w", "expired": False},
        {"event_id": "2", "actor_id": "AGENT-7", "workflow_id": "w", "expired": False},
        {"event_id": "3", "actor_id": "agent-7", "workflow_id": "w", "expired": True},
        {"event_id": "4", "actor_id": "agent-8", "workflow_id": "w", "expired": False},
    ]
    assert [e["event_id"] for e in matching_holds(entries, "actor", "agent-7")] == ["1", "2"]
    assert len(matching_holds(entries, "workflow", "W")) == 3
