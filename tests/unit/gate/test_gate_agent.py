"""The gate agent's own checks, without a broker: decision timestamp type, the
closed-id memory wired from settings, registry reload → revalidation."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from sluice.agents.gate import LOG_APPEND_TIME, GateAgent, closed_ttl_ms
from sluice.codec import default_codec
from sluice.gate.reviewers import registry_from_data
from sluice.http import Health
from sluice.metrics import create
from sluice.settings import Settings
from sluice.topics import Topics
from tests.unit.gate.test_hardening import EID, REG, dec, held, put, registry

CODEC = default_codec()


def agent(settings: Settings | None = None) -> GateAgent:
    return GateAgent(
        settings or Settings(),
        CODEC,
        create(CollectorRegistry()),
        Health(),
        REG,
        Topics.with_prefix(""),
    )


def record(value: bytes, timestamp_type: int, ts: int = 5) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="workflow.decisions",
        partition=0,
        offset=0,
        timestamp=ts,
        timestamp_type=timestamp_type,
        key=EID.encode(),
        value=value,
        checksum=None,
        serialized_key_size=36,
        serialized_value_size=len(value),
        headers=[],
    )


def test_decision_with_producer_timestamp_is_refused() -> None:
    a = agent()
    state = a._new_state()
    put(state, held(approvals=1))
    create_time = record(CODEC.encode("Decision", dec("rm1", at=5)), timestamp_type=0)
    out = a._on_decision(state, create_time, 5)
    assert [e.data["reason"] for e in out if e.kind == "refused"] == ["not_log_append_time"]
    assert state.entries[EID].approvers == {}
    log_append = record(CODEC.encode("Decision", dec("rm1", at=5)), LOG_APPEND_TIME)
    out = a._on_decision(state, log_append, 5)
    assert [e.data["outcome"] for e in out if e.kind == "release"] == ["APPROVED"]


def test_closed_memory_and_skew_come_from_settings() -> None:
    s = Settings(max_past_seconds=86400, max_future_seconds=60, decision_clock_skew_seconds=7)
    state = agent(s)._new_state()
    assert state.closed_ttl_ms == closed_ttl_ms(s) > (86400 + 60 + 3600) * 1000
    put(state, held(held_at=100_000, expires_at=10**9), 100_000)
    late = record(CODEC.encode("Decision", dec("rm1", at=100_000 - 8000)), LOG_APPEND_TIME)
    out = agent(s)._on_decision(state, late, 100_000)
    assert [e.data["reason"] for e in out if e.kind == "refused"] == ["decided_before_hold"]


def test_reload_registry_swaps_every_partition_and_schedules_revalidation() -> None:
    a = agent()
    a.states = {0: a._new_state(), 1: a._new_state()}
    put(a.states[0], held(approvals=2))
    a.states[0].on_decision(dec("rm1"), 1, 1)
    new = registry(frozenset({"rm1"}))
    a.reload_registry(new)
    assert all(s.registry is new for s in a.states.values())
    assert a._registry_gen != a._revalidated_gen
    # The state side of that transaction: the revoked vote is withdrawn.
    out = [e.data.get("transition") for s in a.states.values() for e in s.revalidate(2)]
    assert "vote_withdrawn" in out and a.states[0].entries[EID].approvers == {}


async def test_a_fetched_batch_is_never_overtaken_by_a_timer_commit() -> None:
    """A timer-only transaction commits the consumer's position; run() must not start
    one while a fetched batch is still unprocessed (that position is past the batch)."""
    from aiokafka.structs import TopicPartition

    a = agent()
    tp = TopicPartition("workflow.decisions", 0)
    calls: list[str] = []

    class FakeConsumer:
        def __init__(self) -> None:
            self.turns = 0

        async def getmany(self, **_: object) -> dict[TopicPartition, list[object]]:
            self.turns += 1
            if self.turns == 1:
                return {tp: [record(b"x", LOG_APPEND_TIME)]}
            a.request_stop()
            return {}

        def assignment(self) -> set[TopicPartition]:
            return {tp}

    async def transact(batch: dict[TopicPartition, list[object]]) -> None:
        calls.append("batch" if batch else "timers")

    async def idle() -> None:
        calls.append("idle")

    a.consumer = FakeConsumer()  # type: ignore[assignment]
    a._transact = transact  # type: ignore[method-assign]
    a.idle = idle  # type: ignore[method-assign]
    await a.run()
    assert calls == ["batch", "idle"]


def test_held_events_gauge_counts_each_hold_once_under_a_registry_role() -> None:
    prom = CollectorRegistry()
    a = GateAgent(Settings(), CODEC, create(prom), Health(), REG, Topics.with_prefix(""))
    a.states = {0: a._new_state()}
    put(a.states[0], held(approvals=2))  # roles ("rm",): a registry role
    a._gauges(force=True)

    def samples() -> dict[str, float]:
        return {
            s.labels["role"]: s.value
            for metric in prom.collect()
            if metric.name == "sluice_held_events"
            for s in metric.samples
        }

    got = samples()
    assert got["rm"] == 1 and got["other"] == 0 and sum(got.values()) == 1
    assert set(got) == REG.roles | {"other"}, "bounded by the registry"
    a.reload_registry(registry_from_data({"reviewers": []}))
    a._gauges(force=True)
    assert samples() == {"other": 1}, "roles gone from the registry lose their series"


async def test_idle_starts_a_timer_transaction_only_when_an_entry_is_due() -> None:
    """``idle`` asks each partition's state when it is next due (``next_due_ms``)."""
    from sluice.clock import now_ms

    a = agent()
    state = a._new_state()
    assert state.next_due_ms() is None
    a.states = {0: state}
    calls: list[object] = []

    async def transact(batch: dict[object, object]) -> None:
        calls.append(batch)

    a._transact = transact  # type: ignore[method-assign]
    later = now_ms() + 3_600_000
    put(state, held(held_at=later - 10_000, expires_at=later), later - 10_000)
    assert state.next_due_ms() == later
    await a.idle()
    assert calls == []
    put(a.states.setdefault(1, a._new_state()), held(expires_at=5))
    a._next_tick = 0.0
    await a.idle()
    assert calls == [{}]
    assert a.states[1].tick(now_ms()) and a.states[1].next_due_ms() is not None
