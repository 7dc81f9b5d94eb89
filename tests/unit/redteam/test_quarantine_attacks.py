"""Red team: the quarantine kill switch (sluice.quarantine.Controls), pure.

Lifting takes the policy's number of distinct reviewers with live keys: a vote whose
key was revoked since it was counted (a compromised key, found out) must not complete a
lift, as a gate vote would be withdrawn. Plus the cases that must stay held: one
reviewer under two key ids, look-alike subjects, forged partitions of the work.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.gate.reviewers import registry_from_data
from sluice.gate.signatures import public_key_to_b64
from sluice.quarantine import ControlRefusal, Controls, QuarantineConfig
from sluice.quarantine.records import build_control, decode_control, encode_control, sign_control
from sluice.quarantine.state import Applied
from tests.helpers import reviewers_data

NOW = 1_800_000_000_000
ROLES = {"sec1": ["security"], "sec2": ["security"], "sec3": ["security"]}
KEYS = {rid: Ed25519PrivateKey.generate() for rid in ROLES}
SEC1_K2 = Ed25519PrivateKey.generate()


def registry(revoked: tuple[str, ...] = (), second_key: bool = False) -> Any:
    data = reviewers_data(KEYS, ROLES, revoked=revoked)
    if second_key:
        data["reviewers"][0]["keys"].append(
            {"id": "sec1-k2", "public_key": public_key_to_b64(SEC1_K2.public_key())}
        )
    return registry_from_data(data)


def signed(reviewer: str, key_id: str | None = None, key: Any = None, **f: Any) -> dict[str, Any]:
    f.setdefault("reason", "runaway agent")
    f.setdefault("subject_type", "actor")
    f.setdefault("subject", "agent-7")
    f.setdefault("issued_at", NOW)
    c = build_control(reviewer_id=reviewer, key_id=key_id or f"{reviewer}-k1", **f)
    sign_control(c, key or KEYS[reviewer])
    out = decode_control(encode_control(c))
    assert out is not None
    return out


def ev(actor: str = "agent-7", workflow: str = "wf-1", run: str = "run-1") -> dict[str, Any]:
    return {"actor": {"id": actor}, "workflow_id": workflow, "run_id": run}


def add(c: Controls, **f: Any) -> str:
    a = signed("sec1", action="add", **f)
    assert c.apply(a, NOW).result == "added"
    return str(a["quarantine_id"])


def lift(c: Controls, qid: str, reviewer: str, **kw: Any) -> Applied:
    return c.apply(signed(reviewer, action="lift", quarantine_id=qid, **kw), NOW)


def test_a_lift_vote_whose_key_was_revoked_since_does_not_complete_a_lift() -> None:
    c = Controls(registry(), QuarantineConfig())  # lift: 2 distinct security reviewers
    qid = add(c)
    assert lift(c, qid, "sec2").result == "lift_counted"
    c.registry = registry(revoked=("sec2",))  # sec2's key found compromised: reloaded
    assert lift(c, qid, "sec3").result == "lift_counted"  # one live vote of two
    assert c.match("agent-7", "wf", "run", NOW) is not None
    assert lift(c, qid, "sec1").result == "lifted"  # a second live vote lifts it


def test_a_revoked_voter_may_vote_again_with_a_new_key() -> None:
    c = Controls(registry(), QuarantineConfig())
    qid = add(c)
    assert lift(c, qid, "sec1").result == "lift_counted"
    c.registry = registry(revoked=("sec1",), second_key=True)  # rotated: k1 out, k2 in
    assert lift(c, qid, "sec2").result == "lift_counted"
    assert lift(c, qid, "sec1", key_id="sec1-k2", key=SEC1_K2).result == "lifted"


def test_one_reviewer_under_two_key_ids_is_one_lift_vote() -> None:
    c = Controls(registry(second_key=True), QuarantineConfig())
    qid = add(c)
    assert lift(c, qid, "sec1").result == "lift_counted"
    r = lift(c, qid, "sec1", key_id="sec1-k2", key=SEC1_K2)
    assert r.refusal == ControlRefusal.DUPLICATE_VOTE
    assert c.match("agent-7", "wf", "run", NOW) is not None


@pytest.mark.parametrize(
    "spelling",
    ["AGENT-7", "agent-7\u200b", " agent-7", "\uff41gent-7", "\u0430gent-7", "agent-\uff17"],
)
def test_spellings_of_a_quarantined_actor_are_held_in_any_run_or_workflow(spelling: str) -> None:
    c = Controls(registry(), QuarantineConfig())
    add(c)
    assert c.match(spelling, "wf-other", "run-other", NOW) is not None


def test_a_lift_before_its_add_and_a_replayed_add_after_the_lift() -> None:
    c = Controls(registry(), QuarantineConfig())
    a = signed("sec1", action="add")
    qid = str(a["quarantine_id"])
    for rid in ("sec2", "sec2"):  # the same reviewer twice, before the add
        lift(c, qid, rid)
    assert c.apply(a, NOW).result == "added"  # one distinct vote: still in force
    assert lift(c, qid, "sec3").result == "lifted"
    assert c.apply(a, NOW).refusal == ControlRefusal.REPLAYED
    # the same add under a fresh control id needs a fresh signature (forging fails)
    forged = {**a, "control_id": "x" * 36, "quarantine_id": "x" * 36}
    assert c.apply(forged, NOW).refusal == ControlRefusal.BAD_SIGNATURE
