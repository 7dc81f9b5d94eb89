"""The run index behind "earlier steps of the run": bounded, ordered, content-free."""

from __future__ import annotations

from typing import Any

from sluice.codec import default_codec
from sluice.console.runs import RunIndex
from sluice.console.state import MAX_PENDING, fold_record
from sluice.console.trace import audit_fragment, run_steps
from sluice.gate.queue import QueueState
from sluice.topics import Topics
from tests.unit.console.test_app import _held
from tests.unit.console.test_state import _outcome


def _rec(eid: str, run: str, at: int, kind: str = "TOOL_CALL") -> dict[str, Any]:
    return {"event_id": eid, "run_id": run, "kind": kind, "rule": "r", "received_at": at}


def test_steps_in_order_latest_status_and_earlier_only() -> None:
    runs = RunIndex()
    runs.add(_rec("b", "run", 20), "held")
    runs.add(_rec("a", "run", 10), "approved")
    runs.add(_rec("c", "run", 30), "rejected")
    runs.add(_rec("b", "run", 20), "approved")
    runs.add(_rec("b", "run", 20), "held")  # a hold read after its outcome: stays approved
    assert [(s.event_id, s.status) for s in runs.steps("run")] == [
        ("a", "approved"),
        ("b", "approved"),
        ("c", "rejected"),
    ]
    assert [s.event_id for s in runs.earlier("run", "b", 20)] == ["a"]
    assert runs.steps("other") == []


def test_bounded_in_runs_and_steps() -> None:
    runs = RunIndex(max_runs=3, max_steps=2)
    for i in range(10):
        runs.add(_rec(f"e{i}", f"run{i}", i), "held")
    assert len(runs) == 3 and [s.event_id for s in runs.steps("run9")] == ["e9"]
    assert runs.steps("run0") == []  # the least recently updated run went first
    for i in range(5):
        runs.add(_rec(f"s{i}", "run9", 100 + i), "approved")
    assert [s.event_id for s in runs.steps("run9")] == ["s3", "s4"]  # the newest two


def test_no_run_id_or_content_kept() -> None:
    runs = RunIndex()
    runs.add({"event_id": "x", "run_id": None}, "held")
    assert len(runs) == 0
    held = _held("secret content")
    runs.add(held, "held")
    (step,) = runs.steps("run-1")
    assert "secret content" not in repr(step)


def test_fold_notes_steps_and_bounds_pending(monkeypatch: Any) -> None:
    import sluice.console.state as state_mod

    topics, codec = Topics.with_prefix("t."), default_codec()
    state, pending, runs = QueueState(), {}, RunIndex()  # type: ignore[var-annotated]
    monkeypatch.setattr(state_mod, "MAX_PENDING", 3)
    passed = [_held() for _ in range(5)]
    for h in passed:  # outcomes of events never held: steps, and a bounded wait list
        value = codec.encode("Outcome", _outcome(h))
        fold_record(state, topics, topics.approved, h["event_id"].encode(), value, pending, runs)
    assert len(pending) == 3 and set(pending) == {h["event_id"] for h in passed[2:]}
    assert [s.status for s in runs.steps("run-1")] == ["approved"] * 5
    assert MAX_PENDING >= 10_000


def test_rendering_is_escaped() -> None:
    runs = RunIndex()
    runs.add(_rec("<i>id</i>", "run", 10, kind="<script>x</script>"), "held")
    html = run_steps("<run>", runs.steps("run"), 20, {"<i>id</i>": {}})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="/event/%3Ci%3Eid%3C%2Fi%3E"' in html
    assert "No earlier steps of run &lt;run&gt;" in run_steps("<run>", [], 0, {})
    item = {
        "role": "audit",
        "at": "t",
        "label": "gate/held <img src=x>",
        "fields": {"chain": "gate:0", "seq": 3, "reason_code": "<b>", "detectors": ["a", "b"]},
    }
    out = audit_fragment([item, {**item, "role": "approvals"}], "could not <read>")
    assert out.count("<tr><td>") == 1 and "<img" not in out and "&lt;b&gt;" in out
    assert "detectors=a,b" in out and "could not &lt;read&gt;" in out
    assert "No audit records" in audit_fragment([], None)
