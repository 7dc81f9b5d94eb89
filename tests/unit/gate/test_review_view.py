"""The review queue model: first body kept, refused duplicates do not release,
requirements / levels / per-role progress shown."""

from __future__ import annotations

from sluice.gate.queue import QueueState, entry_view, queue_entries
from tests.unit.gate.test_hardening import BODY_A, BODY_B, HA, REG, dec, held

REQS = (("data-steward", 1, 1), ("security", 1, 2))


def test_queue_keeps_the_first_body_and_ignores_refused_duplicates() -> None:
    q = QueueState()
    q.add_held(held(BODY_A))
    q.add_held(held(BODY_B))  # attacker's re-send: the gate refuses it
    assert q.held[held()["event_id"]]["content_hash"] == HA and sum(q.conflicts.values()) == 1
    q.add_held(held(BODY_A, roles=("security",), held_at=5, expires_at=99))  # escalation
    assert q.held[held()["event_id"]]["roles"] == ["security"]
    q.add_outcome(held()["event_id"], "rejected", "duplicate_event_id")
    assert len(queue_entries(q, 0)) == 1, "a refused duplicate does not release the hold"
    q.add_outcome(held()["event_id"], "approved", None)
    assert queue_entries(q, 0) == []


def test_view_shows_requirements_levels_and_progress() -> None:
    h = held(roles=("data-steward", "security"), approvals=2, requirements=REQS)
    votes = [dec("steward"), dec("both")]
    view = entry_view(h, votes, 0, REG)
    assert "content_hash" in view and len(view["votes"]) == 2
    assert [(r["role"], r["level"], r["approved_by"]) for r in view["requirements"]] == [
        ("data-steward", 1, ["both", "steward"]),
        ("security", 2, ["both"]),
    ]
    assert view["levels"] == [{"level": 1, "complete": True}, {"level": 2, "complete": True}]
    only = entry_view(h, [dec("sec")], 0, REG)
    assert only["current_level"] == 1 and only["levels"][0]["complete"] is False
    unknown = entry_view(h, votes, 0, None)
    assert unknown["requirements"][0]["approved_by"] is None
    assert unknown["levels"][0]["complete"] is None


def test_view_without_requirements_keeps_roles_and_approvals() -> None:
    view = entry_view(held(approvals=2), [dec("rm1"), dec("rm2")], 0, REG)
    assert view["requirements"] == [] and view["approvals"] == 2
    assert view["levels"] == [{"level": 1, "complete": True}]
