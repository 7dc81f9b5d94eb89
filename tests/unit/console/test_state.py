"""Folding followed records one by one gives the same queue as ``review list``'s read."""

from __future__ import annotations

from sluice.codec import default_codec
from sluice.console.state import fold_record
from sluice.gate.queue import QueueState, queue_state
from sluice.topics import Topics
from tests.unit.console.test_app import _held


def _outcome(held: dict[str, object]) -> dict[str, object]:
    return {
        "event_id": held["event_id"],
        "run_id": held["run_id"],
        "workflow_id": held["workflow_id"],
        "kind": held["kind"],
        "trace_id": None,
        "outcome": "APPROVED",
        "source": "REVIEWER",
        "rule": held["rule"],
        "policy_hash": held["policy_hash"],
        "reason": None,
        "reviewers": ["x"],
        "findings": [],
        "event": held["event"],
        "content_hash": held["content_hash"],
        "received_at": held["received_at"],
        "decided_at": held["held_at"],
    }


def test_outcome_before_its_hold_still_releases_it() -> None:
    topics = Topics.with_prefix("t.")
    codec = default_codec()
    a, b = _held("a"), _held("b")
    records = {
        topics.approvals: [
            (k.encode(), codec.encode("HeldEvent", h))
            for k, h in ((a["event_id"], a), (b["event_id"], b))
        ],
        topics.approved: [(a["event_id"].encode(), codec.encode("Outcome", _outcome(a)))],
        topics.rejected: [],
        topics.decisions: [(None, b"not avro"), (None, None)],
    }
    state, pending = QueueState(), {}
    # The outcome topic is read first: it waits for its hold.
    assert not fold_record(state, topics, topics.approved, *records[topics.approved][0], pending)
    for topic in (topics.approvals, topics.decisions):
        for key, value in records[topic]:
            fold_record(state, topics, topic, key, value, pending)
    whole = queue_state(topics, records)
    assert state.released == whole.released == {a["event_id"]: "approved"}
    assert set(state.held) == set(whole.held)
    assert state.undecodable == whole.undecodable == {topics.decisions: 1}
