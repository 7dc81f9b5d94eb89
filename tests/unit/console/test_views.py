"""The console's entry cache: rebuilt when a hold, its votes or the registry change."""

from __future__ import annotations

from sluice.console.views import EntryCache, filter_entries
from sluice.gate.queue import QueueState, queue_entries
from tests.unit.console.test_app import _held


def test_cache_matches_queue_entries_and_follows_changes() -> None:
    state = QueueState()
    a, b = _held("a"), _held("b")
    b["roles"], b["risk_score"] = ["finance"], 0.9
    state.add_held(a)
    state.add_held(b)
    cache = EntryCache()
    now = a["held_at"] + 1000
    got = {e["event_id"]: e for e in cache.entries(state, now, None)}
    want = {e["event_id"]: e for e in queue_entries(state, now)}
    assert got == want
    later = cache.entries(state, now + 5000, None)
    assert {e["time_left_s"] for e in later} == {e["time_left_s"] - 5 for e in want.values()}
    state.add_vote(
        {
            "event_id": a["event_id"],
            "verdict": "APPROVE",
            "reviewer_id": "x",
            "content_hash": a["content_hash"],
            "decision_id": "d",
            "reason": "",
            "decided_at": now,
            "key_id": "k",
        }
    )
    entry = next(e for e in cache.entries(state, now, None) if e["event_id"] == a["event_id"])
    assert entry["approvals"] == 1
    state.add_outcome(a["event_id"], "approved")
    assert [e["event_id"] for e in cache.entries(state, now, None)] == [b["event_id"]]
    entries = list(want.values())
    assert [e["event_id"] for e in filter_entries(entries, {"role": "finance"})] == [b["event_id"]]
    assert [e["event_id"] for e in filter_entries(entries, {"risk": "0.8"})] == [b["event_id"]]
    assert filter_entries(entries, {"rule": "nope"}) == []


def test_queue_view_rebuilt_per_version_time_refreshed_per_row() -> None:
    from sluice.console.views import QueueView, refresh_time

    state = QueueState()
    a, b = _held("a"), _held("b")
    a["expires_at"], b["roles"] = b["expires_at"] - 10, ["finance", "security"]
    state.add_held(b)
    state.add_held(a)
    view = QueueView()
    now = a["held_at"]
    entries, counts, options = view.get(state, 1, now, None, 0)
    assert [e["event_id"] for e in entries] == [a["event_id"], b["event_id"]]  # least left
    assert counts == {"security": 2, "finance": 1} and options["role"] == ["finance", "security"]
    state.add_outcome(a["event_id"], "approved")
    assert view.get(state, 1, now, None, 0)[0] is entries  # same version: not rebuilt
    again = view.get(state, 2, now, None, 0)[0]
    assert [e["event_id"] for e in again] == [b["event_id"]]
    assert view.get(state, 2, now, None, 1)[0] is not again  # the registry changed
    refresh_time(again, b["expires_at"] + 1)
    assert again[0]["expired"] and again[0]["time_left_s"] == 0
