"""Red team (issue 11): attacks on the hardened gate, registry and key files.

Each test is an attack. Where the attack worked on the hardened main, the test failed
first and a fix came with it (zero-width REJECT reasons, look-alike reviewer ids,
duplicate YAML keys); the others prove the attack is refused and stay as regressions.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.errors import ConfigError
from sluice.gate.quorum import Entry, GateState
from sluice.gate.reviewers import Registry, load_registry, registry_from_data
from sluice.gate.signatures import (
    build_decision,
    public_key_to_b64,
    read_private_key,
    sign_decision,
)
from sluice.identity import fold_id, skeleton_id
from sluice.policy.loader import check_policy
from sluice.producers import load_producers, read_producer_key
from tests.unit.gate.test_hardening import (
    BODY_A,
    BODY_B,
    EID,
    HA,
    HB,
    KEYS,
    REG,
    STEWARD_AND_SECURITY,
    audits,
    dec,
    held,
    put,
    raw,
    refusals,
    released_body,
    releases,
)

# -- gate: content binding -------------------------------------------------------------


def test_early_decisions_for_a_second_body_never_count() -> None:
    """Decisions signed over body B arrive before the HeldEvent of body A; then B is
    re-sent: nothing the attacker prepared counts, and only A can be released."""
    g = GateState(REG)
    assert not refusals(g.on_decision(dec("rm1", content_hash=HB), 1, 1))  # kept, early
    assert not refusals(g.on_decision(dec("rm2", content_hash=HB), 1, 1))
    out = put(g, held(BODY_A, held_at=0), 2)
    assert refusals(out) == ["content_mismatch", "content_mismatch"] and not releases(out)
    out = put(g, held(BODY_B, held_at=3), 3)
    assert [e.data["reason"] for e in out if e.kind == "held_refused"] == ["duplicate_event_id"]
    assert refusals(g.on_decision(dec("rm1", content_hash=HB, at=4), 4, 4)) == ["content_mismatch"]
    g.on_decision(dec("rm1", at=5), 5, 5)
    rel = releases(g.on_decision(dec("rm2", at=6), 6, 6))
    assert len(rel) == 1 and released_body(rel[0]) == BODY_A


def test_early_decision_whose_key_is_revoked_before_the_hold_opens_does_not_count() -> None:
    from tests.unit.gate.test_hardening import registry

    g = GateState(REG)
    assert not refusals(g.on_decision(dec("rm1"), 1, 1))  # early, valid at arrival
    g.registry = registry(frozenset({"rm1"}))
    out = put(g, held(approvals=1), 2)
    assert refusals(out) == ["revoked_key"] and not releases(out)


def test_awaiting_state_refuses_a_second_body_after_the_first_opened() -> None:
    """Early decision for A, then B's HeldEvent opens first: A's decision does not
    count for B, and A re-sent later is the duplicate (first body wins, whichever)."""
    g = GateState(REG)
    g.on_decision(dec("rm1"), 1, 1)
    out = put(g, held(BODY_B), 2)
    assert refusals(out) == ["content_mismatch"]
    out = put(g, held(BODY_A), 3)
    assert [e.data["reason"] for e in out if e.kind == "held_refused"] == ["duplicate_event_id"]
    assert g.entries[EID].content_hash == HB and not g.entries[EID].approvers


def test_a_decision_cannot_be_moved_to_another_event_id() -> None:
    g = GateState(REG)
    other = "00000000-0000-4000-8000-000000000000"
    h = held(BODY_A)
    h["event_id"] = other
    put(g, h)
    d = dec("rm1")  # signed for EID
    d["event_id"] = other
    assert refusals(g.on_decision(d, 1, 1)) == ["bad_signature"]


def test_decision_id_replay_is_refused_open_and_closed() -> None:
    g = GateState(REG)
    put(g, held(approvals=2))
    d = dec("rm1")
    g.on_decision(d, 1, 1)
    assert refusals(g.on_decision(dict(d), 2, 2)) == ["replay"]
    g.on_decision(dec("rm2"), 3, 3)
    assert g.entries[EID].status == "closed"
    assert refusals(g.on_decision(dict(d), 4, 4)) == ["replay"]


def test_identical_resends_in_every_state_never_move_expiry() -> None:
    """Re-sends before (awaiting), during and after the hold: expiry stays the first."""
    g = GateState(REG)
    g.on_decision(dec("rm1"), 1, 1)  # awaiting
    put(g, held(BODY_A, expires_at=100), 2)
    for t in range(3, 100, 20):
        put(g, held(BODY_A, held_at=t, expires_at=t + 1_000_000), t)
    assert g.entries[EID].expires_at == 100
    assert releases(g.tick(101))[0]["outcome"] == "REJECTED"


# -- gate: decided_at and reasons ------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (0, "decided_before_hold"),
        (-1, "decided_before_hold"),
        (-(2**63), "decided_before_hold"),
        (2**63 - 1, "decided_in_future"),
        (2**64, "decided_in_future"),
    ],
)
def test_decided_at_extremes_are_refused(at: int, reason: str) -> None:
    g = GateState(REG, skew_ms=1000)
    put(g, held(held_at=10**12, expires_at=10**12 + 10**6), 10**12)
    assert refusals(g.on_decision(dec("rm1", at=at), 10**12 + 5, 10**12 + 5)) == [reason]
    assert not g.entries[EID].approvers


def test_boolean_decided_at_is_malformed() -> None:
    g = GateState(REG)
    put(g, held())
    d = build_decision(
        event_id=EID, verdict="APPROVE", reviewer_id="rm1", key_id="rm1-1",
        content_hash=HA, reason="r", decided_at=0,
    )  # fmt: skip
    d["signature"] = sign_decision(d, KEYS["rm1"])
    d["decided_at"] = False  # False == 0: the same signed digits, not an int time
    assert refusals(g.on_decision(d, 1, 1)) == ["malformed"]


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "\u200b", "\u200b\u2060\ufeff", "\u3000\xa0", "\u202e\u202c", "\x00\x01", "\xad"],
)
def test_reject_without_a_visible_reason_is_refused(reason: str) -> None:
    """A REJECT must say why; whitespace, zero-width, bidi or control characters only
    say nothing (zero-width and controls were accepted on the hardened main)."""
    g = GateState(REG)
    put(g, held())
    out = g.on_decision(dec("rm1", "REJECT", reason=reason), 1, 1)
    assert refusals(out) == ["missing_reason"] and not releases(out)
    assert g.entries[EID].status == "open"
    assert releases(g.on_decision(dec("rm2", "REJECT", reason="no\u200b"), 2, 2))


@pytest.mark.parametrize("verdict", ["ABSTAIN", "approve", "APPROVE ", ""])
def test_a_signed_verdict_other_than_approve_or_reject_never_approves(verdict: str) -> None:
    """The Avro enum stops these at the codec; the state machine does not rely on it
    (on the hardened main anything but REJECT counted as an approval)."""
    g = GateState(REG)
    put(g, held(approvals=1))
    d = dec("rm1")
    d["verdict"] = verdict
    d["signature"] = sign_decision(d, KEYS["rm1"])
    out = g.on_decision(d, 1, 1)
    assert refusals(out) == ["malformed"] and not releases(out)
    assert not g.entries[EID].approvers


# -- gate: quorum shapes -----------------------------------------------------------------


def test_one_person_with_both_roles_fills_one_slot_even_across_levels() -> None:
    g = GateState(REG)
    reqs = (("data-steward", 1, 1), ("security", 1, 2))
    put(g, held(roles=("data-steward", "security"), requirements=reqs))
    assert not releases(g.on_decision(dec("both"), 1, 1))
    # Level 1 complete; "both" cannot sign again for level 2 ...
    assert refusals(g.on_decision(dec("both", at=2), 2, 2)) == ["duplicate_vote"]
    # ... a level-1-only reviewer cannot fill level 2 either ...
    assert not releases(g.on_decision(dec("steward"), 3, 3))
    # ... only a second person with the level-2 role releases.
    assert releases(g.on_decision(dec("sec"), 4, 4))


def test_level_two_first_is_refused_and_needs_a_new_signature() -> None:
    g = GateState(REG)
    reqs = (("data-steward", 1, 1), ("security", 1, 2))
    put(g, held(roles=("data-steward", "security"), requirements=reqs))
    early = dec("sec")
    assert refusals(g.on_decision(early, 1, 1)) == ["level_pending"]
    g.on_decision(dec("steward"), 2, 2)
    assert refusals(g.on_decision(dict(early), 3, 3)) == ["replay"]  # not banked
    assert releases(g.on_decision(dec("sec", at=4), 4, 4))


def test_escalated_phase_does_not_count_phase_one_votes_or_ids() -> None:
    g = GateState(REG, skew_ms=10)
    put(
        g,
        held(approvals=2, expires_at=100, on_expiry="ESCALATE", escalate_roles=("rm",)),
    )
    first = dec("rm1", at=50)
    g.on_decision(first, 60, 60)
    g.tick(101)
    assert not g.entries[EID].approvers
    assert refusals(g.on_decision(dict(first), 102, 102)) == ["replay"]
    assert not releases(g.on_decision(dec("rm2", at=102), 102, 102))
    assert releases(g.on_decision(dec("rm1", at=103), 103, 103))


def test_revoked_between_votes_withdraws_and_blocks_release() -> None:
    from tests.unit.gate.test_hardening import registry

    g = GateState(REG)
    put(g, held(roles=("data-steward", "security"), requirements=STEWARD_AND_SECURITY))
    g.on_decision(dec("steward"), 1, 1)
    g.registry = registry(frozenset({"steward"}))
    out = g.on_decision(dec("sec"), 2, 2)
    assert not releases(out) and ("vote_withdrawn", "revoked_key") in audits(out)
    assert releases(g.on_decision(dec("steward2"), 3, 3))


def _registry_with(rid: str, key: Ed25519PrivateKey, *, revoked: bool = False) -> Registry:
    """REG's reviewers, with ``rid``'s key id ``{rid}-1`` now naming ``key``."""
    data: dict[str, Any] = {"reviewers": []}
    for r in REG.reviewers.values():
        k = key if r.id == rid else KEYS[r.id]
        data["reviewers"].append(
            {
                "id": r.id,
                "roles": sorted(r.roles),
                "keys": [
                    {
                        "id": f"{r.id}-1",
                        "public_key": public_key_to_b64(k.public_key()),
                        "revoked": revoked and r.id == rid,
                    }
                ],
            }
        )
    return registry_from_data(data)


def test_key_rotated_in_place_withdraws_the_votes_the_old_key_signed() -> None:
    """A compromised key replaced under the same key id (no ``revoked`` entry): the votes
    it signed stop counting (on the hardened main they kept counting)."""
    g = GateState(REG)
    put(g, held(approvals=2))
    g.on_decision(dec("rm1"), 1, 1)
    g.registry = _registry_with("rm1", Ed25519PrivateKey.generate())
    out = g.revalidate(2)
    assert ("vote_withdrawn", "revoked_key") in audits(out)
    assert not releases(g.on_decision(dec("rm2"), 3, 3))
    # Same public key re-listed unchanged: the vote stays.
    g2 = GateState(REG)
    put(g2, held(approvals=2))
    g2.on_decision(dec("rm1"), 1, 1)
    g2.registry = _registry_with("rm1", KEYS["rm1"])
    assert not g2.revalidate(2)
    assert releases(g2.on_decision(dec("rm2"), 3, 3))


def test_level_two_vote_given_on_a_revoked_level_one_approval_is_withdrawn() -> None:
    """Ordered levels: level 2 approved once level 1 looked complete. If level 1's only
    approval is withdrawn (its key revoked: perhaps stolen), the level-2 approval rested
    on it and must be given again; on the hardened main it stayed, and one new level-1
    vote plus one more level-2 vote released."""
    from tests.unit.gate.test_hardening import registry

    g = GateState(REG)
    reqs = (("data-steward", 1, 1), ("security", 2, 2))
    put(g, held(roles=("data-steward", "security"), requirements=reqs))
    g.on_decision(dec("steward"), 1, 1)  # level 1 complete
    g.on_decision(dec("sec"), 2, 2)  # level 2: one of two
    g.registry = registry(frozenset({"steward"}))
    out = g.revalidate(3)
    assert ("vote_withdrawn", "revoked_key") in audits(out)
    assert ("vote_withdrawn", "level_reopened") in audits(out)
    assert set(g.entries[EID].approvers) == set()
    g.on_decision(dec("steward2"), 4, 4)  # level 1 complete again
    assert not releases(g.on_decision(dec("sec2"), 5, 5))  # sec's old vote is gone
    assert releases(g.on_decision(dec("sec", at=6), 6, 6))  # sec signs again


def test_withdrawal_that_keeps_a_level_complete_keeps_higher_votes() -> None:
    from tests.unit.gate.test_hardening import registry

    g = GateState(REG)
    reqs = (("rm", 1, 1), ("security", 2, 2))
    put(g, held(roles=("rm", "security"), requirements=reqs))
    g.on_decision(dec("rm1"), 1, 1)
    g.on_decision(dec("rm2"), 2, 2)  # rm at level 1 is over-filled: counted at level 2
    g.on_decision(dec("sec"), 3, 3)
    g.registry = registry(frozenset({"rm1"}))
    out = g.revalidate(4)
    assert audits(out) == [("vote_withdrawn", "revoked_key")]
    assert releases(g.on_decision(dec("sec2"), 5, 5))


def test_restored_legacy_vote_without_key_id_is_withdrawn_on_revocation() -> None:
    """A vote restored from a changelog written before key ids were kept was never
    withdrawn (``key_id`` None skipped the check); it now needs a live key."""
    import orjson

    g = GateState(REG)
    put(g, held(approvals=2))
    g.on_decision(dec("rm1"), 1, 1)
    old = orjson.loads(g.entries[EID].to_bytes())
    old["ap"] = {"rm1": "legacy-decision"}
    restored = GateState(_registry_with("rm1", KEYS["rm1"], revoked=True))
    restored.restore(Entry.from_bytes(orjson.dumps(old)), EID)
    out = restored.revalidate(2)
    assert ("vote_withdrawn", "revoked_key") in audits(out)
    assert not releases(restored.on_decision(dec("rm2"), 3, 3))


def test_vote_key_fingerprint_survives_the_changelog() -> None:
    g = GateState(REG)
    put(g, held(approvals=2))
    g.on_decision(dec("rm1"), 1, 1)
    back = Entry.from_bytes(g.entries[EID].to_bytes())
    assert back.approvers["rm1"].key_fp == REG.key_fingerprint("rm1", "rm1-1") is not None
    restored = GateState(_registry_with("rm1", Ed25519PrivateKey.generate()))
    restored.restore(back, EID)
    assert ("vote_withdrawn", "revoked_key") in audits(restored.revalidate(2))


# -- gate: changelog restore -----------------------------------------------------------


def test_changelog_round_trip_keeps_every_field_and_behaviour() -> None:
    """A restarted gate continues exactly: requirements, levels, key ids per vote,
    escalation phase and carry flag, seen ids and early decisions all survive."""
    g = GateState(REG, skew_ms=10)
    reqs = (("data-steward", 1, 1), ("security", 1, 2))
    put(
        g,
        held(
            roles=("data-steward", "security"),
            requirements=reqs,
            expires_at=100,
            on_expiry="ESCALATE",
            escalate_requirements=(("rm", 2, 1), ("security", 1, 2)),
            carry=True,
        ),
    )
    g.on_decision(dec("steward", at=5), 5, 5)
    g.tick(101)  # escalated, votes carried at level 1
    g.on_decision(dec("rm1", at=102), 102, 102)
    other = "11111111-2222-4333-8444-555555555555"
    early = dec("rm2")
    early["event_id"] = other
    early["signature"] = sign_decision(early, KEYS["rm2"])
    g.on_decision(early, 103, 103)  # awaiting, with a bytes signature inside
    restored = GateState(REG, skew_ms=10)
    for eid, e in g.entries.items():
        back = Entry.from_bytes(e.to_bytes())
        assert back == e
        restored.restore(back, eid)
    e = restored.entries[EID]
    assert e.escalated and e.escalate_carry_votes and e.phase_at == 101
    assert e.escalate_requirements == (("rm", 2, 1), ("security", 1, 2))
    assert {k: (v.key_id, v.level) for k, v in e.approvers.items()} == {
        "steward": ("steward-1", 1),
        "rm1": ("rm1-1", 1),
    }
    assert restored.entries[other].early[0][1]["signature"] == early["signature"]
    # Behaviour continues: rm needs a second person, then security at level 2.
    assert not releases(restored.on_decision(dec("rm3", at=104), 104, 104))
    assert releases(restored.on_decision(dec("sec", at=105), 105, 105))


# -- identities: look-alikes ------------------------------------------------------------

CYRILLIC_A_ALICE = "\u0430lice"  # Cyrillic U+0430, then Latin lice


def _rev(rid: str, key: Ed25519PrivateKey, roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": rid,
        "roles": roles or ["security"],
        "keys": [{"id": "k1", "public_key": public_key_to_b64(key.public_key())}],
    }


def test_fold_does_not_merge_look_alikes_but_skeleton_does() -> None:
    assert fold_id(CYRILLIC_A_ALICE) != fold_id("alice")
    for twin in (CYRILLIC_A_ALICE, "\u0430l\u0456c\u0435", "a1ice", "\u03b1lice", "\u0391LICE"):
        assert skeleton_id(twin) == skeleton_id("alice"), twin
    assert skeleton_id("bob") != skeleton_id("alice")


@pytest.mark.parametrize("twin", [CYRILLIC_A_ALICE, "\u0430l\u0456c\u0435", "a1ice", "\u03b1lice"])
def test_registry_refuses_look_alike_reviewer_ids(twin: str) -> None:
    """Two entries a reader takes for one reviewer are two votes; the registry refuses
    them (the hardened main accepted ``alice`` and Cyrillic-a ``alice`` as two people)."""
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    data = {"reviewers": [_rev("alice", keys[0]), _rev(twin, keys[1])]}
    with pytest.raises(ConfigError, match="look alike") as info:
        registry_from_data(data, source="reg.yaml")
    assert "\n" not in str(info.value) and str(info.value).startswith("reg.yaml")


def test_look_alike_actor_cannot_be_approved_by_the_reviewer() -> None:
    """Actor ``bob`` with a Cyrillic U+043E, or ``b0b``, is, to a reader, reviewer ``bob``."""
    for actor in ("b\u043eb", "b0b", "B\u039fB", "bob\u2800", "b ob"):
        g = GateState(REG)
        put(g, held(actor=actor, on_behalf_of=None))
        assert refusals(g.on_decision(dec("bob"), 1, 1)) == ["self_approval"], actor
        g2 = GateState(REG)
        put(g2, held(actor="agent-1", on_behalf_of=actor))
        assert refusals(g2.on_decision(dec("bob"), 1, 1)) == ["self_approval"], actor


def test_only_invisible_or_whitespace_reviewer_ids_are_refused() -> None:
    for rid in (" ", "\u200b", "\u3164", "\u2060\ufeff", "\u00a0"):
        with pytest.raises(ConfigError, match="non-empty"):
            registry_from_data({"reviewers": [_rev(rid, Ed25519PrivateKey.generate())]})
    for rid in (7, None, True, ["alice"], {"a": 1}):
        with pytest.raises(ConfigError, match="non-empty string"):
            registry_from_data({"reviewers": [_rev(rid, Ed25519PrivateKey.generate())]})  # type: ignore[arg-type]


def test_revoked_key_re_added_under_a_new_key_id_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    entry = _rev("alice", key)
    entry["keys"][0]["revoked"] = True
    entry["keys"].append({"id": "k2", "public_key": public_key_to_b64(key.public_key())})
    with pytest.raises(ConfigError, match="one public key"):
        registry_from_data({"reviewers": [entry]})


# -- YAML tricks in the files that decide who may approve -----------------------------


def _registry_yaml(revoked_lines: str) -> str:
    pub = public_key_to_b64(Ed25519PrivateKey.generate().public_key())
    return (
        "reviewers:\n"
        "  - id: alice\n"
        "    roles: [security]\n"
        "    keys:\n"
        "      - id: k1\n"
        f"        public_key: {pub}\n"
        f"{revoked_lines}"
    )


def test_registry_with_a_key_written_twice_is_refused(tmp_path: Path) -> None:
    """``revoked: true`` then ``revoked: false`` in one entry: PyYAML keeps the last, so
    the key a reader sees revoked stayed live on the hardened main."""
    path = tmp_path / "reviewers.yaml"
    path.write_text(_registry_yaml("        revoked: true\n        revoked: false\n"))
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 8\)"):
        load_registry(path)
    path.write_text(_registry_yaml("        revoked: true\n"))
    reg = load_registry(path)
    assert not reg.key_live("alice", "k1")
    # Anchors and merge keys keep their meaning (an explicit key overrides a merged one).
    pub = public_key_to_b64(Ed25519PrivateKey.generate().public_key())
    path.write_text(
        "base: &k {id: k1, public_key: " + pub + ", revoked: false}\n"
        "reviewers:\n  - id: alice\n    roles: [security]\n"
        "    keys: [{<<: *k, revoked: true}]\n"
    )
    assert not load_registry(path).key_live("alice", "k1")


def test_a_duplicate_reviewer_entry_key_is_refused(tmp_path: Path) -> None:
    pub = public_key_to_b64(Ed25519PrivateKey.generate().public_key())
    path = tmp_path / "reviewers.yaml"
    path.write_text(
        "reviewers:\n  - id: alice\n    roles: [finance]\n    roles: [security]\n"
        f"    keys: [{{id: k1, public_key: {pub}}}]\n"
    )
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(path)


def test_policy_rule_with_two_conditions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "rules:\n"
        "  - name: big\n"
        '    when: event.kind == "CODE_PUBLISH"\n'
        "    when: false\n"
        "    hold: {roles: [rm], approvals: 2}\n"
        "default: {allow: {}}\n"
    )
    problems = check_policy(path)
    assert any("duplicate key" in str(p) and "line 4" in str(p) for p in problems), problems


def test_producers_registry_with_a_key_written_twice_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "s.key"
    secret.write_text("x" * 40)
    path = tmp_path / "producers.yaml"
    path.write_text(
        "producers:\n"
        "  - key_id: agent-1\n"
        "    algorithm: hmac-sha256\n"
        "    secret_file: s.key\n"
        "    actors: [agent-1]\n"
        "    workflows: [w]\n"
        "    revoked: true\n"
        "    revoked: false\n"
    )
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_producers(path)


def test_key_files_with_a_field_written_twice_are_refused_without_quoting_it(
    tmp_path: Path,
) -> None:
    seed = base64.b64encode(b"\x01" * 32).decode()
    path = tmp_path / "alice.key"
    path.write_text(
        "format: sluice.ed25519.v1\nreviewer_id: alice\nkey_id: k1\n"
        f"private_key: {seed}\nreviewer_id: mallory\n"
    )
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        read_private_key(path)
    assert seed not in str(info.value)
    secret = "s" * 40
    ppath = tmp_path / "agent.key"
    ppath.write_text(
        "format: sluice.producer-key.v1\nkey_id: a\nalgorithm: hmac-sha256\n"
        f"secret: {secret}\nsecret: other-{secret}\n"
    )
    ppath.chmod(0o600)
    with pytest.raises(ConfigError) as pinfo:
        read_producer_key(ppath)
    assert secret not in str(pinfo.value)


def test_alias_fan_out_registry_is_refused_quickly(tmp_path: Path) -> None:
    """A billion-laughs style file (aliases nesting lists) is parsed without expansion
    and refused on shape, not after exhausting memory."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("reviewers:\n  - id: alice\n    roles: *a11\n    keys: []")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="roles must be a list of non-empty strings"):
        load_registry(path)


def test_registry_error_messages_never_quote_key_material(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pub = public_key_to_b64(key.public_key())
    bad = pub[:-4] + "!!!="
    for data in (
        {"reviewers": [{"id": "a", "roles": ["s"], "keys": [{"id": "k", "public_key": bad}]}]},
        {"reviewers": [{"id": "a", "roles": ["s"], "keys": [{"id": "k", "public_key": pub[:20]}]}]},
        {"reviewers": [_rev("a", key), _rev("b", key)]},
    ):
        with pytest.raises(ConfigError) as info:
            registry_from_data(data)
        assert pub[:16] not in str(info.value) and bad not in str(info.value)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"reviewers": [_rev("a", key), _rev("b", key)]}))
    with pytest.raises(ConfigError) as finfo:
        load_registry(path)
    assert pub not in str(finfo.value)


def test_registry_built_in_memory_refuses_look_alikes() -> None:
    """Registry() built directly also refuses look-alikes (not only the file loader)."""
    a = registry_from_data({"reviewers": [_rev("alice", Ed25519PrivateKey.generate())]})
    b = registry_from_data({"reviewers": [_rev(CYRILLIC_A_ALICE, Ed25519PrivateKey.generate())]})
    ra, rb = a.reviewer("alice"), b.reviewer(CYRILLIC_A_ALICE)
    assert ra is not None and rb is not None
    with pytest.raises(ConfigError, match="look alike"):
        Registry([ra, rb])


def test_content_hash_is_sha256_of_the_released_bytes() -> None:
    g = GateState(REG)
    put(g, held(approvals=1))
    rel = releases(g.on_decision(dec("rm1"), 1, 1))[0]
    assert hashlib.sha256(released_body(rel)).hexdigest() == rel["content_hash"] == HA
    assert rel["held"] == raw(held(approvals=1))
