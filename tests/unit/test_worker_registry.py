"""The worker's side of registry reloads and topic checks, without a broker."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.errors import ConfigError
from sluice.gate.reviewers import Registry, registry_from_data
from sluice.kafka import TopicReport
from sluice.settings import load_settings
from sluice.topics import TOPIC_CONFIGS, Topics
from sluice.worker import Worker, check_topic_configs, swap_registry
from tests.helpers import reviewers_yaml

KEYS = {rid: Ed25519PrivateKey.generate() for rid in ("carol", "erin")}


class State:
    def __init__(self, registry: Any) -> None:
        self.registry = registry


class OldGate:
    """A gate agent before ``reload_registry`` existed."""

    name = "gate"

    def __init__(self, registry: Any) -> None:
        self.lock = asyncio.Lock()
        self.registry = registry
        self.states = {0: State(registry), 1: State(registry)}
        self.chains: dict[int, Any] = {}


class NewGate(OldGate):
    def __init__(self, registry: Any) -> None:
        super().__init__(registry)
        self.reloaded: list[Any] = []

    def reload_registry(self, registry: Any) -> None:
        assert self.lock.locked()  # called with the lock held
        self.reloaded.append(registry)


async def test_swap_registry_uses_reload_registry_when_the_agent_has_it() -> None:
    old, new = Registry([]), registry_from_data({"reviewers": []})
    agent = NewGate(old)
    async with agent.lock:
        swap_registry(agent, new)
    assert agent.reloaded == [new]
    assert agent.registry is old  # the agent's own method decides what to swap


def test_swap_registry_without_reload_registry_swaps_agent_and_states() -> None:
    old, new = Registry([]), registry_from_data({"reviewers": []})
    agent = OldGate(old)
    swap_registry(agent, new)
    assert agent.registry is new
    assert all(s.registry is new for s in agent.states.values())


@pytest.fixture
def worker(tmp_path: Path) -> tuple[Worker, Path]:
    path = tmp_path / "reviewers.yaml"
    path.write_text(reviewers_yaml(KEYS, set()))
    settings = load_settings(
        reviewers_file=path, data_dir=tmp_path / "data", fingerprint_key="k" * 16
    )
    w = Worker(settings, stages=("gate",))
    from sluice.gate.reviewers import RegistryFile

    w.registry_file = RegistryFile(path)
    return w, path


def _metric(w: Worker, result: str) -> float:
    value = w.registry.get_sample_value("sluice_registry_reloads_total", {"result": result})
    return float(value or 0.0)


@pytest.mark.parametrize("gate_cls", [OldGate, NewGate])
async def test_reload_swaps_audits_and_counts(
    worker: tuple[Worker, Path], gate_cls: type[OldGate], caplog: pytest.LogCaptureFixture
) -> None:
    w, path = worker
    assert w.registry_file is not None
    before = w.registry_file.current
    gate = gate_cls(before)
    w.agents = [gate]
    vote_key = ("erin", "erin-k1")
    assert before.key_live(*vote_key)

    assert await w.reload_registry(force=True) is False  # unchanged
    path.write_text(reviewers_yaml(KEYS, {"erin"}))
    caplog.set_level(logging.INFO, logger="sluice.worker")
    assert await w.reload_registry(force=True) is True
    now = w.registry_file.current
    assert now is not before and not now.key_live(*vote_key)
    if isinstance(gate, NewGate):
        assert gate.reloaded == [now]
    else:
        assert gate.registry is now and all(s.registry is now for s in gate.states.values())
    assert _metric(w, "ok") == 1 and _metric(w, "refused") == 0
    (audit,) = w._pending_audit
    assert audit["transition"] == "registry_reloaded" and audit["stage"] == "gate"
    assert audit["content_hash"] == now.source_hash and audit["reason_code"] == "sighup"
    assert audit["source"] == "reviewers=2 keys=2 live_keys=1"
    # No chain owned yet: the record waits, nothing is lost, nothing raises.
    await w._flush_registry_audit()
    assert len(w._pending_audit) == 1

    # A broken file: refused, counted, logged as a structured error, the old one kept.
    path.write_text("reviewers:\n  - id: [unclosed\n")
    assert await w.reload_registry(force=True) is False
    assert w.registry_file.current is now
    assert _metric(w, "refused") == 1 and _metric(w, "ok") == 1
    (err,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert err.getMessage().startswith("reviewers registry reload refused")
    assert err.hash_in_force == now.source_hash  # type: ignore[attr-defined]
    assert "not valid YAML" in err.error  # type: ignore[attr-defined]


def _reports(topics: Topics, **over: dict[str, str]) -> list[TopicReport]:
    out = []
    for name, conf in topics.configs().items():
        configs = {**conf, "min.insync.replicas": "1", **over.get(name, {})}
        out.append(TopicReport(name, "exists", 2, configs))
    return out


def test_topic_check_passes_the_table() -> None:
    topics = Topics.with_prefix("p.")
    assert check_topic_configs(topics, _reports(topics), gate=True) == []


@pytest.mark.parametrize("value", ["CreateTime", None])
def test_topic_check_refuses_decisions_without_log_append_time(value: str | None) -> None:
    topics = Topics.with_prefix("p.")
    reports = _reports(topics)
    for r in reports:
        if r.name == topics.decisions:
            r.configs.pop("message.timestamp.type")  # type: ignore[attr-defined]
            if value is not None:
                r.configs["message.timestamp.type"] = value  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"p\.workflow\.decisions has message\.timestamp") as info:
        check_topic_configs(topics, reports, gate=True)
    assert "\n" not in str(info.value)
    # An intake-only worker does not read decisions: it runs, and warns.
    drift = check_topic_configs(topics, reports, gate=False)
    assert [(d.topic, d.key) for d in drift] == [(topics.decisions, "message.timestamp.type")]


def test_topic_check_refuses_when_decisions_cannot_be_described() -> None:
    topics = Topics.with_prefix("p.")
    reports = [r for r in _reports(topics) if r.name != topics.decisions]
    with pytest.raises(
        ConfigError, match=r"cannot read the settings of topic p\.workflow\.decisions"
    ):
        check_topic_configs(topics, reports, gate=True)


def test_topic_check_warns_on_drift(caplog: pytest.LogCaptureFixture) -> None:
    topics = Topics.with_prefix("p.")
    reports = _reports(
        topics,
        **{
            topics.dlq: {"retention.ms": "1000"},
            topics.gate_state: {"cleanup.policy": "delete"},
        },
    )
    caplog.set_level(logging.WARNING, logger="sluice.worker")
    drift = check_topic_configs(topics, reports, gate=True)
    assert [(d.topic, d.key, d.expected, d.actual) for d in drift] == [
        (topics.dlq, "retention.ms", TOPIC_CONFIGS["workflow.dlq"]["retention.ms"], "1000"),
        (topics.gate_state, "cleanup.policy", "compact", "delete"),
    ]
    warned = [(r.topic, r.setting) for r in caplog.records]  # type: ignore[attr-defined]
    assert warned == [(topics.dlq, "retention.ms"), (topics.gate_state, "cleanup.policy")]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
