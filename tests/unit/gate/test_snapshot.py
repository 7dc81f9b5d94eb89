"""``review list`` from the gate's compacted state: open entries only, latest per key,
escalations as the gate republishes them, counted votes, and the not-yet-consumed tail."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sluice.codec import default_codec
from sluice.gate.entry import Entry, Vote
from sluice.gate.queue import QueueState, entry_view, queue_entries
from sluice.gate.signatures import build_decision
from sluice.gate.snapshot import snapshot_entries, snapshot_state
from tests.unit.console.test_app import _held


def _entry(held: dict[str, Any]) -> Entry:
    raw = default_codec().encode("HeldEvent", held)
    return Entry.opened(held, raw, held["content_hash"], set())


def test_open_entries_latest_per_key_and_tail() -> None:
    now = int(time.time() * 1000)
    codec = default_codec()
    a, b, c, d, tail = (_held(str(i)) for i in range(5))
    ea, eb, ec, ed = _entry(a), _entry(b), _entry(c), _entry(d)
    ea.approvers["alice"] = Vote("Alice", str(uuid.uuid4()), "k1")
    closed = _entry(b)
    closed.status, closed.outcome, closed.held = "closed", "APPROVED", None
    ed.escalated, ed.escalate_roles, ed.escalate_approvals = True, ("ciso",), 1
    ed.expires_at, ed.phase_at = now + 99_000, now + 1
    changelog = [
        (k(ea), ea.to_bytes()),
        (k(eb), eb.to_bytes()),
        (k(eb), closed.to_bytes()),  # released later: the latest value wins
        (k(ec), ec.to_bytes()),
        (k(ec), None),  # a tombstone deletes
        (k(ed), ed.to_bytes()),
        (None, b"ignored"),
        (b"x", b"not json"),
    ]
    vote = build_decision(
        event_id=tail["event_id"],
        verdict="REJECT",
        reviewer_id="bob",
        key_id="k",
        content_hash=tail["content_hash"],
        reason="no",
    )
    stale = {**a, "roles": ["nobody"]}  # an older copy the gate already consumed
    snap = snapshot_state(
        changelog,
        [(None, codec.encode("HeldEvent", tail)), (None, codec.encode("HeldEvent", stale))],
        [(None, codec.encode("Decision", vote))],
    )
    assert set(snap.state.held) == {a["event_id"], d["event_id"], tail["event_id"]}
    assert snap.state.undecodable == {"gate_state": 1}
    entries = {e["event_id"]: e for e in snapshot_entries(snap, now)}
    ga = entries[a["event_id"]]
    assert ga["roles"] == ["security"] and ga["approvals"] == 1
    assert [(v["reviewer_id"], v["valid"], v["decided_at"]) for v in ga["votes"]] == [
        ("Alice", True, None)
    ]
    gd = entries[d["event_id"]]  # escalated: the new roles and expiry
    assert gd["roles"] == ["ciso"] and gd["expires_at"] == now + 99_000
    assert gd["held_at"] == now + 1
    gt = entries[tail["event_id"]]  # held a moment ago, its REJECT not consumed yet
    assert gt["rejections"] == 1 and gt["votes"][0]["reason"] == "no"
    # The --json shape is the topics' shape.
    plain = QueueState()
    plain.add_held(a)
    assert set(ga) == set(queue_entries(plain, now)[0])
    assert set(ga["votes"][0]) == set(entry_view(a, [vote], now)["votes"][0])
    assert [e["event_id"] for e in snapshot_entries(snap, now, role="ciso")] == [d["event_id"]]


def k(entry: Entry) -> bytes:
    return entry.event_id.encode()


def test_split_amendment_votes_show_the_leading_version_not_the_sum() -> None:
    # Two approvals over two different final bytes are not a quorum of two (the gate
    # counts votes per final bytes); the queue view must not say otherwise.
    from sluice.gate.queue import leading_approvers

    votes = [
        {"reviewer_id": "carol", "verdict": "APPROVE", "valid": True, "amended_hash": None},
        {"reviewer_id": "erin", "verdict": "APPROVE", "valid": True, "amended_hash": "ab" * 32},
        {"reviewer_id": "dana", "verdict": "APPROVE", "valid": True, "amended_hash": "ab" * 32},
        {"reviewer_id": "mallory", "verdict": "APPROVE", "valid": False, "amended_hash": None},
        {"reviewer_id": "frank", "verdict": "REJECT", "valid": True, "amended_hash": None},
    ]
    assert leading_approvers(votes) == {"erin", "dana"}
    assert leading_approvers(votes[:2]) in ({"carol"}, {"erin"})
    assert leading_approvers([]) == set()


def test_one_approver_of_an_amendment_never_shows_as_met() -> None:
    # The gate releases amended bytes only with two distinct approvers, whatever the
    # hold's quorum; the queue must not show a single amendment approval as enough.
    from sluice.gate.queue import amendment_progress

    def progress() -> dict[str, object]:
        return {"requirements": [{"role": "security", "count": 1, "met": True}]}

    amended = [{"reviewer_id": "erin", "verdict": "APPROVE", "amended_hash": "ab" * 32}]
    p = amendment_progress(progress(), amended, {"erin"})
    assert p["requirements"][0]["met"] is False  # type: ignore[index]
    assert p["amendment_needs_second_approver"] is True
    both = [*amended, {"reviewer_id": "dana", "verdict": "APPROVE", "amended_hash": "ab" * 32}]
    assert amendment_progress(progress(), both, {"erin", "dana"})["requirements"][0]["met"]  # type: ignore[index]
    plain = [{"reviewer_id": "erin", "verdict": "APPROVE", "amended_hash": None}]
    assert amendment_progress(progress(), plain, {"erin"})["requirements"][0]["met"]  # type: ignore[index]
