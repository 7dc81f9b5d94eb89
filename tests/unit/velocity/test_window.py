"""The per-actor sliding-window counter: buckets, expiry, undo, changelog, hostile times."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.policy.velocity import VelocityRef
from sluice.velocity import WindowCounter, actor_key
from sluice.velocity.window import decode

ACTOR = "sluice_velocity_actor_300000"
RUN = "sluice_velocity_run_300000"
KIND = "sluice_velocity_kind_300000"
WF = "sluice_velocity_workflow_3600000"
SPEND = "sluice_velocity_spend_3600000"
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 10_000  # on a bucket boundary (10 s)


def ev(actor: str = "agent-1", **kw: Any) -> dict[str, Any]:
    return {
        "actor": {"id": actor},
        "workflow_id": kw.get("workflow_id", "wf"),
        "run_id": kw.get("run_id", "run"),
        "kind": kw.get("kind", "PROMPT"),
        "cost_usd": kw.get("cost_usd"),
    }


def counter(*refs: tuple[str, str]) -> WindowCounter:
    from sluice.policy.model import parse_duration_ms

    pairs = refs or (("actor", "5m"),)
    return WindowCounter([VelocityRef(d, parse_duration_ms(w)) for d, w in pairs])


def test_counts_include_the_event_and_buckets_are_a_thirtieth_of_the_window() -> None:
    c = counter()
    assert c.bucket_ms == 10_000
    assert [c.observe(ev(), T0 + i, T0 + i)[ACTOR] for i in range(3)] == [1, 2, 3]


def test_bucket_boundaries_count_the_whole_window_plus_at_most_one_bucket() -> None:
    c = counter()
    c.observe(ev(), T0, T0)  # bucket T0
    # 5 min later, at the first ms of the bucket 30 buckets on: T0's bucket still counts.
    assert c.observe(ev(), T0 + 300_000, T0 + 300_000)[ACTOR] == 2
    # One bucket later the event of T0 (now > 5 min + 1 bucket old) is out.
    assert c.observe(ev(), T0 + 310_000, T0 + 310_000)[ACTOR] == 2  # T0+300000 and this
    # Never undercounts: an event 4 min 59.999 s old still counts.
    d = counter()
    d.observe(ev(), T0 + 9_999, T0 + 9_999)
    assert d.observe(ev(), T0 + 309_998, T0 + 309_998)[ACTOR] == 2


def test_expiry_drops_old_buckets_and_sweep_forgets_idle_actors() -> None:
    c = counter()
    for i in range(50):
        c.observe(ev(), T0 + i * 1000, T0 + i * 1000)
    c.observe(ev(), T0 + 3_600_000, T0 + 3_600_000)
    assert c.observe(ev(), T0 + 3_600_001, T0 + 3_600_001)[ACTOR] == 2
    c.drain()
    assert len(c) == 1
    assert c.sweep(T0 + 3_600_000 + 320_000) == 1 and len(c) == 0
    assert c.drain() == [("agent-1", None)]  # tombstone for the compacted changelog


def test_scopes_are_per_actor_and_per_run_kind_workflow_spend() -> None:
    c = counter(("actor", "5m"), ("run", "5m"), ("kind", "5m"), ("workflow", "1h"), ("spend", "1h"))
    c.observe(ev(run_id="r1", kind="TOOL_CALL", cost_usd=2.5), T0, T0)
    c.observe(ev(run_id="r2", workflow_id="other", cost_usd=1.0), T0, T0)
    c.observe(ev("agent-2", cost_usd=9.0), T0, T0)
    out = c.observe(ev(run_id="r1", cost_usd=0.25), T0 + 1, T0 + 1)
    assert out[ACTOR] == 3  # agent-2 is not counted
    assert out[RUN] == 2 and out[KIND] == 2 and out[WF] == 2
    assert out[SPEND] == pytest.approx(2.75) and isinstance(out[SPEND], float)
    assert isinstance(out[ACTOR], int)


def test_changelog_round_trip_restores_the_counts() -> None:
    c = counter()
    for i in range(7):
        c.observe(ev(), T0 + i * 20_000, T0 + i * 20_000)
    records = c.drain()
    assert [k for k, _ in records] == ["agent-1"]
    fresh = counter()
    for key, value in records:
        fresh.restore(key, value)
    at = T0 + 7 * 20_000
    assert fresh.observe(ev(), at, at)[ACTOR] == c.observe(ev(), at, at)[ACTOR] == 8


def test_a_tombstone_or_garbage_in_the_changelog_never_fails_restore() -> None:
    c = counter()
    c.observe(ev(), T0, T0)
    ((key, value),) = c.drain()
    fresh = counter()
    fresh.restore(key, value)
    fresh.restore(key, None)
    assert len(fresh) == 0
    for junk in (b"", b"[]", b'{"t": "x", "b": {}}', b'{"t": 1, "b": {"x": 1}}', b"\xff"):
        fresh.restore("mallory", junk)
        assert decode(junk) is None
    assert fresh.observe(ev("mallory"), T0, T0)[ACTOR] == 1


def test_rollback_undoes_an_aborted_batch_exactly() -> None:
    c = counter()
    c.observe(ev(), T0, T0)
    c.drain()  # committed
    c.observe(ev(), T0 + 1, T0 + 1)
    c.observe(ev("new-actor"), T0 + 1, T0 + 1)
    c.rollback()
    assert len(c) == 1
    assert c.observe(ev(), T0 + 2, T0 + 2)[ACTOR] == 2


def test_out_of_order_times_count_in_their_own_bucket() -> None:
    c = counter()
    c.observe(ev(), T0 + 60_000, T0 + 60_000)
    # A router whose clock is 20 s behind: counted, at its own time.
    assert c.observe(ev(), T0 + 40_000, T0 + 60_000)[ACTOR] == 1  # the later one is not before it
    assert c.observe(ev(), T0 + 61_000, T0 + 61_000)[ACTOR] == 3


def test_a_future_time_counts_as_now_plus_the_bound() -> None:
    """A skewed (or forged) ingest time far ahead cannot park events outside every window."""
    c = counter()
    year = 365 * 86_400_000
    for _ in range(5):
        c.observe(ev(), T0 + year, T0)  # clamped to T0 + 5 s
    assert c.observe(ev(), T0 + 5_000, T0 + 5_000)[ACTOR] == 6


def test_a_stale_time_cannot_hide_events_before_the_actor_latest() -> None:
    """Times older than the actor's latest minus the bound count at that bound: a burst
    stamped an hour in the past still lands inside the current window."""
    c = counter()
    c.observe(ev(), T0 + 3_600_000, T0 + 3_600_000)
    for _ in range(5):
        c.observe(ev(), T0, T0 + 3_600_000)
    assert c.observe(ev(), T0 + 3_600_001, T0 + 3_600_001)[ACTOR] == 7


def test_the_event_own_timestamp_is_never_read() -> None:
    """occurred_at is the producer's claim; the counter takes only the ingest time."""
    c = counter()
    for ts in (0, T0 + 10**12, -5):
        e = ev()
        e["occurred_at"] = ts
        c.observe(e, T0, T0)
    assert c.observe(ev(), T0, T0)[ACTOR] == 4


@pytest.mark.parametrize("alias", ["AGENT-1", "Agent-1", "\uff41\uff47\uff45\uff4e\uff54-1"])
def test_spellings_of_one_actor_count_together(alias: str) -> None:
    assert actor_key(alias) == actor_key("agent-1")
    c = counter()
    c.observe(ev("agent-1"), T0, T0)
    assert c.observe(ev(alias), T0, T0)[ACTOR] == 2


def test_a_counter_needs_a_window() -> None:
    with pytest.raises(ValueError):
        WindowCounter([])


def test_bucket_count_is_bounded_when_windows_differ_widely() -> None:
    """A 1s window beside a 24h one: at most MAX_BUCKETS per actor, still no undercount."""
    from sluice.velocity.window import MAX_BUCKETS

    c = counter(("actor", "1s"), ("workflow", "24h"))
    assert c.bucket_ms == 120_000 and c.horizon_ms // c.bucket_ms <= MAX_BUCKETS + 1
    for i in range(0, 86_400_000, 60_000):  # one event a minute for a day
        out = c.observe(ev(), T0 + i, T0 + i)
    assert len(c._actors["agent-1"].buckets) <= MAX_BUCKETS + 2
    assert out["sluice_velocity_workflow_86400000"] >= 1440
    assert out["sluice_velocity_actor_1000"] >= 1
