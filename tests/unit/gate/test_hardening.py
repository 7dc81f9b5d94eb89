"""Gate hardening (issue 11): immutable held content, closed-id memory, per-role quorums
with levels, escalation phases, decided_at bounds, folded identities, revocation.

Each test states the guarantee and plays the attacker against it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.audit.chain import ChainWriter
from sluice.codec import default_codec
from sluice.gate.quorum import Effect, Entry, GateState, closed_marker_ttl_ms, match_count
from sluice.gate.reviewers import Registry, registry_from_data
from sluice.gate.signatures import build_decision, sign_decision
from sluice.settings import Settings
from tests.helpers import reviewers_data

FULLWIDTH_CAROL = "\uff23\uff21\uff32\uff2f\uff2c"  # CAROL in fullwidth letters
ROLES: dict[str, list[str]] = {
    "steward": ["data-steward"],
    "steward2": ["data-steward"],
    "sec": ["security"],
    "sec2": ["security"],
    "both": ["data-steward", "security"],
    "fin": ["finance"],
    "rm1": ["rm"],
    "rm2": ["rm"],
    "rm3": ["rm"],
    "bob": ["rm"],
    "carol": ["rm"],
}
KEYS = {rid: Ed25519PrivateKey.generate() for rid in ROLES}
EID = "6f1c2a4e-1111-4222-8333-444455556666"
BODY_A = b"body A: deploy v1"
BODY_B = b"body B: deploy something else"
HA = hashlib.sha256(BODY_A).hexdigest()
HB = hashlib.sha256(BODY_B).hexdigest()
CODEC = default_codec()


def registry(revoked: frozenset[str] = frozenset()) -> Registry:
    return registry_from_data(reviewers_data(KEYS, ROLES, key_suffix="1", revoked=revoked))


REG = registry()


def held(
    body: bytes = BODY_A,
    *,
    roles: tuple[str, ...] = ("rm",),
    approvals: int = 2,
    requirements: tuple[tuple[str, int, int], ...] = (),
    held_at: int = 0,
    expires_at: int = 10_000,
    on_expiry: str = "REJECT",
    escalate_roles: tuple[str, ...] = (),
    escalate_approvals: int = 0,
    escalate_requirements: tuple[tuple[str, int, int], ...] = (),
    carry: bool = False,
    actor: str = "agent-1",
    on_behalf_of: str | None = "dave",
) -> dict[str, Any]:
    return {
        "event_id": EID,
        "run_id": "r",
        "workflow_id": "w",
        "kind": "CODE_PUBLISH",
        "actor_id": actor,
        "on_behalf_of": on_behalf_of,
        "trace_id": None,
        "event": body,
        "content_hash": hashlib.sha256(body).hexdigest(),
        "findings": [],
        "rule": "r1",
        "policy_hash": "p",
        "reason": None,
        "risk_score": 0.5,
        "roles": list(roles),
        "approvals": approvals,
        "on_expiry": on_expiry,
        "escalate_roles": list(escalate_roles),
        "escalate_ttl_ms": 1000,
        "requirements": [{"role": r, "count": c, "level": lv} for r, c, lv in requirements],
        "escalate_approvals": escalate_approvals,
        "escalate_requirements": [
            {"role": r, "count": c, "level": lv} for r, c, lv in escalate_requirements
        ],
        "escalate_carry_votes": carry,
        "producer_key_id": None,
        "received_at": held_at,
        "held_at": held_at,
        "expires_at": expires_at,
    }


def raw(h: dict[str, Any]) -> bytes:
    return CODEC.encode("HeldEvent", h)


def put(g: GateState, h: dict[str, Any], now: int = 0) -> list[Effect]:
    return g.on_held(h, raw(h), now)


def dec(
    rid: str,
    verdict: str = "APPROVE",
    *,
    content_hash: str = HA,
    at: int = 0,
    reason: str = "r",
    reviewer_id: str | None = None,
) -> dict[str, Any]:
    d = build_decision(
        event_id=EID,
        verdict=verdict,
        reviewer_id=reviewer_id or rid,
        key_id=f"{rid}-1",
        content_hash=content_hash,
        reason=reason,
        decided_at=at,
    )
    d["signature"] = sign_decision(d, KEYS[rid])
    return d


def releases(effects: list[Effect]) -> list[dict[str, Any]]:
    return [e.data for e in effects if e.kind == "release"]


def refusals(effects: list[Effect]) -> list[str]:
    return [e.data["reason"] for e in effects if e.kind == "refused"]


def audits(effects: list[Effect]) -> list[tuple[str, str | None]]:
    return [(e.data["transition"], e.data.get("reason_code")) for e in effects if e.kind == "audit"]


def released_body(rel: dict[str, Any]) -> bytes:
    body: bytes = CODEC.decode("HeldEvent", rel["held"])["event"]
    return body


# -- 1. content immutability ---------------------------------------------------------


def test_different_body_under_open_id_is_refused_and_never_released() -> None:
    g = GateState(REG)
    put(g, held(BODY_A))
    assert not releases(g.on_decision(dec("rm1"), 1, 1))
    before = g.entries[EID].to_bytes()
    hb = held(BODY_B, roles=("finance",), approvals=1, held_at=5, expires_at=10**9)
    out = put(g, hb, 5)
    refused = [e for e in out if e.kind == "held_refused"]
    assert [e.data["reason"] for e in refused] == ["duplicate_event_id"]
    assert refused[0].data["held"] == raw(hb)  # the NEW body goes to the rejected topic
    assert ("held_refused", "duplicate_event_id") in audits(out)
    assert not [e for e in out if e.kind == "changelog"]
    assert g.entries[EID].to_bytes() == before  # roles, expiry, votes, body untouched
    # The attacker's second approval, signed over the new body, does not count...
    assert refusals(g.on_decision(dec("rm2", content_hash=HB), 2, 2)) == ["content_mismatch"]
    # ...and an approval over H_A releases A, never B.
    rel = releases(g.on_decision(dec("rm2"), 3, 3))
    assert len(rel) == 1 and released_body(rel[0]) == BODY_A and rel[0]["content_hash"] == HA


def test_approve_on_expiry_releases_the_first_body_only() -> None:
    g = GateState(REG)
    put(g, held(BODY_A, on_expiry="APPROVE", expires_at=100))
    put(g, held(BODY_B, on_expiry="APPROVE", expires_at=100))
    rel = releases(g.tick(101))
    assert len(rel) == 1 and released_body(rel[0]) == BODY_A


def test_identical_resend_never_extends_expiry() -> None:
    g = GateState(REG)
    put(g, held(BODY_A, expires_at=100))
    before = g.entries[EID].to_bytes()
    for t in (50, 90, 99):
        out = put(g, held(BODY_A, held_at=t, expires_at=t + 10_000), t)
        assert audits(out) == [("held_resent", "same_content")]
        assert g.entries[EID].to_bytes() == before
    rel = releases(g.tick(101))
    assert rel and rel[0]["outcome"] == "REJECTED" and rel[0]["source"] == "EXPIRY"


def test_resend_after_close_is_audited_not_silent() -> None:
    g = GateState(REG)
    put(g, held(BODY_A))
    g.on_decision(dec("rm1"), 1, 1)
    assert releases(g.on_decision(dec("rm2"), 2, 2))
    same = put(g, held(BODY_A, held_at=10), 10)
    assert audits(same) == [("held_resent", "already_decided")] and not releases(same)
    other = put(g, held(BODY_B, held_at=11), 11)
    assert [e.data["reason"] for e in other if e.kind == "held_refused"] == ["duplicate_event_id"]
    assert g.entries[EID].status == "closed" and g.entries[EID].content_hash == HA


def test_body_not_matching_its_content_hash_is_never_held() -> None:
    g = GateState(REG)
    h = held(BODY_A)
    h["content_hash"] = HB  # a record written to the approvals topic by someone else
    out = g.on_held(h, raw(h), 0)
    assert [e.data["reason"] for e in out if e.kind == "held_refused"] == ["content_hash_mismatch"]
    assert EID not in g.entries


def test_escalation_republish_read_back_alters_nothing() -> None:
    g = GateState(REG)
    put(g, held(BODY_A, expires_at=100, on_expiry="ESCALATE", escalate_roles=("finance",)))
    out = g.tick(101)
    rep = [e for e in out if e.kind == "republish"]
    assert len(rep) == 1 and rep[0].data["roles"] == ["finance"]
    before = g.entries[EID].to_bytes()
    echo = held(
        BODY_A,
        roles=("rm", "security"),
        approvals=1,
        held_at=101,
        expires_at=10**9,
        on_expiry="APPROVE",
    )
    out = put(g, echo, 102)
    assert audits(out) == [("held_resent", "same_content")]
    assert g.entries[EID].to_bytes() == before
    assert g.entries[EID].expires_at == 101 + 1000
    assert releases(g.tick(1102))[0]["outcome"] == "REJECTED"


# -- 2. closed-id memory ---------------------------------------------------------------


def test_closed_marker_ttl_is_derived_from_the_intake_window() -> None:
    s = Settings(
        max_past_seconds=3 * 86400, max_future_seconds=600, early_decision_ttl_seconds=7200
    )
    ttl = closed_marker_ttl_ms(
        max_past_seconds=s.max_past_seconds,
        max_future_seconds=s.max_future_seconds,
        early_decision_ttl_seconds=s.early_decision_ttl_seconds,
    )
    assert ttl > (3 * 86400 + 600 + 7200) * 1000
    # The default is longer than the 7 days intake accepts by default.
    assert GateState(REG).closed_ttl_ms > (7 * 86400 + 300 + 3600) * 1000


def test_old_signed_decision_cannot_release_a_resent_event_twice() -> None:
    s = Settings()
    ttl = closed_marker_ttl_ms(
        max_past_seconds=s.max_past_seconds,
        max_future_seconds=s.max_future_seconds,
        early_decision_ttl_seconds=s.early_decision_ttl_seconds,
    )
    g = GateState(REG, closed_ttl_ms=ttl)
    put(g, held(BODY_A, approvals=1))
    old = dec("rm1")
    assert len(releases(g.on_decision(old, 1, 1))) == 1
    # The last moment intake could accept the same event again.
    late = (s.max_past_seconds + s.max_future_seconds) * 1000
    assert not g.tick(late)
    out = put(g, held(BODY_A, approvals=1, held_at=late, expires_at=late + 10_000), late)
    assert not releases(out)
    resigned = dec("rm1", at=0)
    resigned["decision_id"] = old["decision_id"]
    assert refusals(g.on_decision(old, late, late)) == ["replay"]
    assert not releases(g.on_decision(dec("rm2"), late, late))


def test_forgotten_marker_still_refuses_an_old_decision() -> None:
    # Attacker: a marker kept too short (the old 7 days) lets the event be held again;
    # the old signed decision is then dated before the new hold and refused.
    g = GateState(REG, closed_ttl_ms=1000)
    put(g, held(BODY_A, approvals=1))
    old = dec("rm1")
    g.on_decision(old, 1, 1)
    g.tick(10_000)
    assert EID not in g.entries
    day = 86_400_000
    put(g, held(BODY_A, approvals=1, held_at=day, expires_at=2 * day), day)
    again = dict(old)
    again["decision_id"] = "11111111-2222-4333-8444-555555555555"
    again["signature"] = sign_decision(again, KEYS["rm1"])
    assert refusals(g.on_decision(again, day + 1, day + 1)) == ["decided_before_hold"]


# -- 3. per-role requirements and levels -----------------------------------------------

STEWARD_AND_SECURITY = (("data-steward", 1, 1), ("security", 1, 1))


def test_requirements_need_each_role_by_distinct_reviewers() -> None:
    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=STEWARD_AND_SECURITY))
    assert refusals(g.on_decision(dec("fin"), 1, 1)) == ["wrong_role"]
    assert not releases(g.on_decision(dec("both"), 1, 1))  # fills one slot only
    # both → security, steward → data-steward: the matching finds it.
    rel = releases(g.on_decision(dec("steward"), 2, 2))
    assert rel and rel[0]["reviewers"] == ["both", "steward"]


def test_one_reviewer_with_two_roles_cannot_release_alone() -> None:
    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=STEWARD_AND_SECURITY))
    assert not releases(g.on_decision(dec("both"), 1, 1))
    assert refusals(g.on_decision(dec("both"), 2, 2)) == ["duplicate_vote"]
    assert not releases(g.tick(5000))


def test_same_role_twice_does_not_fill_the_other_role() -> None:
    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=STEWARD_AND_SECURITY))
    g.on_decision(dec("steward"), 1, 1)
    assert not releases(g.on_decision(dec("steward2"), 2, 2))
    assert releases(g.on_decision(dec("sec"), 3, 3))


def test_level_two_counts_only_after_level_one_is_complete() -> None:
    reqs = (("data-steward", 1, 1), ("security", 1, 2))
    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=reqs))
    assert refusals(g.on_decision(dec("sec"), 1, 1)) == ["level_pending"]
    assert not releases(g.on_decision(dec("steward"), 2, 2))
    rel = releases(g.on_decision(dec("sec2"), 3, 3))
    assert rel and rel[0]["reviewers"] == ["sec2", "steward"]


def test_vote_counted_at_level_one_cannot_fill_level_two() -> None:
    # "both" approves while level 1 is incomplete: it completes level 1 only.
    reqs = (("data-steward", 1, 1), ("security", 1, 2))
    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=reqs))
    assert not releases(g.on_decision(dec("both"), 1, 1))
    assert not releases(g.on_decision(dec("steward"), 2, 2))  # counts, fills nothing new
    assert releases(g.on_decision(dec("sec"), 3, 3))


def test_reject_counts_at_any_level() -> None:
    reqs = (("data-steward", 1, 1), ("security", 1, 2))
    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=reqs))
    rel = releases(g.on_decision(dec("sec", "REJECT", reason="no"), 1, 1))
    assert rel and rel[0]["outcome"] == "REJECTED"


def test_match_count_is_a_maximum_matching() -> None:
    a, b = frozenset({"a"}), frozenset({"b"})
    ab = a | b
    assert match_count([(a, 1, 1), (b, 1, 1)], [(ab, 1), (a, 1)]) == 2  # needs augmenting
    assert match_count([(a, 1, 1), (b, 1, 1)], [(ab, 1), (ab, 1)]) == 2
    assert match_count([(a, 1, 1), (b, 1, 1)], [(ab, 1)]) == 1
    assert match_count([(a, 2, 1)], [(a, 1), (a, 1), (a, 1)]) == 2
    assert match_count([(a, 1, 2)], [(a, 1)]) == 0  # level too high for the vote


# -- 4. escalation phases --------------------------------------------------------------


def test_escalated_phase_counts_its_own_votes() -> None:
    g = GateState(REG)
    put(
        g,
        held(
            roles=("rm",),
            approvals=2,
            expires_at=100,
            on_expiry="ESCALATE",
            escalate_roles=("rm", "finance"),
        ),
    )
    g.on_decision(dec("rm1"), 1, 1)
    g.tick(101)
    assert g.entries[EID].approvers == {}
    assert not releases(g.on_decision(dec("rm2", at=150), 150, 150))  # 1 of 2 in phase 2
    # rm1 voted in phase 1; signs again for phase 2 and counts.
    assert releases(g.on_decision(dec("rm1", at=160), 160, 160))


def test_escalation_carries_votes_when_the_policy_says_so() -> None:
    g = GateState(REG)
    put(
        g,
        held(
            roles=("rm",),
            approvals=2,
            expires_at=100,
            on_expiry="ESCALATE",
            escalate_roles=("rm",),
            carry=True,
        ),
    )
    g.on_decision(dec("rm1"), 1, 1)
    g.tick(101)
    assert releases(g.on_decision(dec("rm2", at=150), 150, 150))


def test_escalate_approvals_and_requirements_apply_to_the_new_phase() -> None:
    g = GateState(REG)
    put(
        g,
        held(
            approvals=3,
            expires_at=100,
            on_expiry="ESCALATE",
            escalate_roles=("finance",),
            escalate_approvals=1,
        ),
    )
    g.tick(101)
    assert refusals(g.on_decision(dec("rm1", at=150), 150, 150)) == ["wrong_role"]
    assert releases(g.on_decision(dec("fin", at=150), 150, 150))
    g2 = GateState(REG)
    put(
        g2,
        held(
            expires_at=100,
            on_expiry="ESCALATE",
            escalate_requirements=STEWARD_AND_SECURITY,
        ),
    )
    rep = next(e for e in g2.tick(101) if e.kind == "republish")
    assert rep.data["roles"] == ["data-steward", "security"] and rep.data["approvals"] == 2
    assert not releases(g2.on_decision(dec("both", at=150), 150, 150))
    assert releases(g2.on_decision(dec("steward", at=150), 150, 150))


def test_phase_one_vote_arriving_after_escalation_does_not_count() -> None:
    g = GateState(REG, skew_ms=10)
    put(g, held(expires_at=100, on_expiry="ESCALATE", escalate_roles=("rm",), approvals=1))
    signed_in_phase_one = dec("rm1", at=50)
    g.tick(200)
    assert refusals(g.on_decision(signed_in_phase_one, 201, 201)) == ["decided_before_hold"]


# -- 5. decided_at bounds --------------------------------------------------------------


def test_decided_at_is_bounded() -> None:
    g = GateState(REG, skew_ms=120_000)
    put(g, held(held_at=1_000_000, expires_at=10_000_000), 1_000_000)
    assert refusals(g.on_decision(dec("rm1", at=1_000_000 - 120_001), 1_000_100, 1_000_100)) == [
        "decided_before_hold"
    ]
    assert refusals(g.on_decision(dec("rm1", at=1_000_100 + 120_001), 1_000_100, 1_000_100)) == [
        "decided_in_future"
    ]
    # Within the skew both ways: counted.
    assert refusals(g.on_decision(dec("rm1", at=1_000_000 - 119_000), 1_000_100, 1_000_100)) == []
    assert refusals(g.on_decision(dec("rm2", at=1_000_100 + 119_000), 1_000_100, 1_000_100)) == []


# -- 6. separation of duties by folded identity ----------------------------------------


@pytest.mark.parametrize("actor", ["Bob", "bob ", "\uff22\uff2f\uff22", "b\u200bob", "BOB\u00ad"])
def test_actor_spelled_differently_is_still_the_reviewer(actor: str) -> None:
    g = GateState(REG)
    put(g, held(actor=actor, on_behalf_of=None))
    assert refusals(g.on_decision(dec("bob"), 1, 1)) == ["self_approval"]
    g2 = GateState(REG)
    put(g2, held(actor="agent-1", on_behalf_of=actor))
    assert refusals(g2.on_decision(dec("bob"), 1, 1)) == ["self_approval"]


class _SpellingBlindRegistry:
    """A registry that accepts any spelling (the real one refuses colliding ids)."""

    def check(self, decision: Any) -> str | None:
        return None

    def reviewer(self, reviewer_id: str) -> Any:
        return REG.reviewer("carol")

    def key_live(self, reviewer_id: str, key_id: str) -> bool:
        return True


def test_two_spellings_of_one_reviewer_vote_once() -> None:
    # The real registry refuses a spelling that is not the registered one ...
    g = GateState(REG)
    put(g, held(approvals=2))
    assert not releases(g.on_decision(dec("carol"), 1, 1))
    assert refusals(g.on_decision(dec("carol", reviewer_id=FULLWIDTH_CAROL), 2, 2)) == [
        "unknown_reviewer"
    ]
    # ... and the state machine counts folded ids once even if a registry did not.
    g2 = GateState(_SpellingBlindRegistry())
    put(g2, held(approvals=2))
    assert not releases(g2.on_decision(dec("carol"), 1, 1))
    assert refusals(g2.on_decision(dec("carol", reviewer_id=FULLWIDTH_CAROL), 2, 2)) == [
        "duplicate_vote"
    ]


# -- 7. revocation without restart -----------------------------------------------------


def test_revalidate_withdraws_votes_of_revoked_keys() -> None:
    g = GateState(REG)
    put(g, held(approvals=2))
    g.on_decision(dec("rm1"), 1, 1)
    g.registry = registry(frozenset({"rm1"}))
    out = g.revalidate(2)
    assert ("vote_withdrawn", "revoked_key") in audits(out)
    assert [e.kind for e in out].count("changelog") == 1
    assert not releases(g.on_decision(dec("rm2"), 3, 3))  # quorum no longer holds
    assert releases(g.on_decision(dec("rm3"), 4, 4))


def test_release_rechecks_keys_even_without_revalidate() -> None:
    g = GateState(REG)
    put(g, held(approvals=2))
    g.on_decision(dec("rm1"), 1, 1)
    g.registry = registry(frozenset({"rm1"}))  # swapped, revalidate not yet run
    out = g.on_decision(dec("rm2"), 2, 2)
    assert not releases(out) and ("vote_withdrawn", "revoked_key") in audits(out)
    assert refusals(g.on_decision(dec("rm1", at=3), 3, 3)) == ["revoked_key"]


def test_changelog_keeps_key_ids_and_reads_older_entries() -> None:
    g = GateState(REG)
    put(g, held(requirements=STEWARD_AND_SECURITY, roles=("data-steward", "security")))
    g.on_decision(dec("steward"), 1, 1)
    e = g.entries[EID]
    back = Entry.from_bytes(e.to_bytes())
    assert back == e and back.approvers["steward"].key_id == "steward-1"
    import orjson

    old = orjson.loads(e.to_bytes())
    old["ap"] = {"steward": "d-1"}
    for k in ("rq", "ea", "erq", "cv", "pa"):
        old.pop(k)
    legacy = Entry.from_bytes(orjson.dumps(old))
    assert legacy.approvers["steward"].decision_id == "d-1" and legacy.requirements == ()


# -- the invariant, as a property ------------------------------------------------------

REG_REVOKED = registry(frozenset({"rm1", "steward"}))

STEP = st.one_of(
    st.tuples(st.just("held"), st.sampled_from(["same", "resend", "other"])),
    st.tuples(
        st.just("dec"),
        st.sampled_from(["rm1", "rm2", "rm3", "steward", "sec", "both", "fin", "bob"]),
        st.sampled_from(["APPROVE", "APPROVE", "APPROVE", "REJECT"]),
        st.sampled_from([HA, HA, HB]),
        st.booleans(),
    ),
    st.tuples(st.just("tick"), st.integers(0, 2500)),
    st.tuples(st.just("registry"), st.booleans()),
    st.tuples(st.just("restart")),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(STEP, max_size=30),
    st.sampled_from(["REJECT", "APPROVE", "ESCALATE"]),
    st.booleans(),
    st.booleans(),
)
def test_every_release_is_the_content_every_counted_vote_signed(
    steps: list[tuple[Any, ...]], on_expiry: str, per_role: bool, carry: bool
) -> None:
    """Random interleavings of holds, re-sends, other bodies, decisions, ticks,
    escalations, registry reloads and restarts: at most one release, its bytes hash to
    the first body's content hash, and every counted vote signed that hash."""
    spec: dict[str, Any] = {
        "roles": ("rm", "data-steward", "security") if per_role else ("rm",),
        "approvals": 2,
        "requirements": (("rm", 1, 1), ("data-steward", 1, 2)) if per_role else (),
        "expires_at": 1000,
        "on_expiry": on_expiry,
        "escalate_roles": ("rm", "security"),
        "escalate_requirements": (("security", 1, 1),) if per_role else (),
        "carry": carry,
    }
    reg: Registry = REG
    g = GateState(reg, skew_ms=10_000)
    signed: dict[str, str] = {}
    sent: list[dict[str, Any]] = []
    released: list[dict[str, Any]] = []
    now = 0

    chain = ChainWriter("gate:0", None)

    def run(effects: list[Effect]) -> None:
        released.extend(releases(effects))
        for e in effects:  # every audit effect is a valid AuditRecord transition
            if e.kind == "audit":
                chain.append_fields({"stage": "gate", "event_id": e.event_id, **e.data})

    run(put(g, held(BODY_A, **spec), now))
    for step in steps:
        now += 10
        if step[0] == "held":
            body = BODY_B if step[1] == "other" else BODY_A
            at = 0 if step[1] == "same" else now
            run(put(g, held(body, **{**spec, "expires_at": at + 1000}, held_at=at), now))
        elif step[0] == "dec":
            _, rid, verdict, chash, replay = step
            d = sent[-1] if replay and sent else dec(rid, verdict, content_hash=chash, at=now)
            sent.append(d)
            signed[d["decision_id"]] = d["content_hash"]
            run(g.on_decision(d, now, now))
        elif step[0] == "tick":
            now += step[1]
            run(g.tick(now))
        elif step[0] == "registry":
            reg = REG_REVOKED if step[1] else REG
            g.registry = reg
            run(g.revalidate(now))
        else:  # a crash: rebuild from the changelog form
            e = g.entries.get(EID)
            g = GateState(reg, skew_ms=10_000)
            if e is not None:
                g.restore(Entry.from_bytes(e.to_bytes()), EID)
    run(g.tick(now + 10**7))
    assert len(released) <= 1
    for rel in released:
        assert rel["content_hash"] == HA
        assert released_body(rel) == BODY_A
        assert hashlib.sha256(released_body(rel)).hexdigest() == rel["content_hash"]
        for did in rel["decisions"]:
            assert signed[did] == rel["content_hash"]
        if rel["source"] == "REVIEWER" and rel["outcome"] == "APPROVED":
            assert len(rel["decisions"]) >= 1
