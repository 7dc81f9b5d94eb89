"""The worker refuses to start on configuration that would break its guarantees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from sluice.kafka import create_topics, describe_topic_configs
from sluice.topics import TIMESTAMP_TYPE, config_drift
from tests.helpers import WorkerProcess, run_sluice, settings_from_env, topics_for

pytestmark = pytest.mark.integration


async def test_gate_topics_must_be_co_partitioned(sluice_env: dict[str, str]) -> None:
    settings = settings_from_env(sluice_env)
    await create_topics(settings, names=[topics_for(sluice_env).decisions], partitions=3)
    proc = run_sluice(sluice_env, "run", "--metrics-port", "0")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sluice: error: the gate needs co-partitioned topics")
    assert "has 3" in last and "has 2" in last


def test_bad_policy_refuses_to_start(sluice_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules:\n  - name: broken-rule\n    when: event.kind ==\n    allow: {}\n")
    proc = run_sluice(sluice_env, "run", "--policy", str(bad))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("sluice: error:") and "broken-rule" in lines[-1]


async def _describe(settings: Any, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        return await describe_topic_configs(admin, names)
    finally:
        await admin.close()


async def test_decisions_topic_without_log_append_time_refuses_to_start(
    sluice_env: dict[str, str],
) -> None:
    settings = settings_from_env(sluice_env)
    decisions = topics_for(sluice_env).decisions
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:  # created by hand with the broker default: the producer's CreateTime
        await admin.create_topics(
            [NewTopic(decisions, 2, 1, topic_configs={TIMESTAMP_TYPE: "CreateTime"})]
        )
    finally:
        await admin.close()
    proc = run_sluice(sluice_env, "run", "--metrics-port", "0", timeout=90)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"sluice: error: topic {decisions} has message.timestamp.type=CreateTime;"
    )
    assert "LogAppendTime" in last
    # Intake alone does not read decisions: it may run (not checked here, it would block).


async def test_topics_create_sets_the_table_and_a_worker_warns_on_drift(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    proc = run_sluice(sluice_env, "topics", "create", "--json", timeout=90, check=True)
    lines = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert {r["topic"] for r in lines} == set(topics.all())
    assert all(r["status"] == "created" and r["differs"] == [] for r in lines)
    described = await _describe(settings, list(topics.all()))
    assert described[topics.decisions][TIMESTAMP_TYPE] == "LogAppendTime"
    assert config_drift(topics.configs(), described) == []

    # An operator shortens the approvals' retention and un-compacts the gate state by hand.
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, topics.approvals, {"retention.ms": "86400000"}
                ),
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topics.gate_state,
                    {
                        "cleanup.policy": "delete",
                        "min.compaction.lag.ms": "60000",
                        "segment.ms": "3600000",
                    },
                ),
            ]
        )
    finally:
        await admin.close()
    proc = run_sluice(sluice_env, "topics", "create", "--json", timeout=90, check=True)
    differs = {
        r["topic"]: r["differs"]
        for r in map(orjson.loads, proc.stdout.splitlines())
        if r["differs"]
    }
    assert differs == {
        topics.approvals: [
            {"setting": "retention.ms", "expected": str(30 * 86400_000), "actual": "86400000"}
        ],
        topics.gate_state: [
            {"setting": "cleanup.policy", "expected": "compact", "actual": "delete"}
        ],
    }

    # The worker starts (drift is not fatal) and says what differs, as structured warnings.
    worker = WorkerProcess(sluice_env, tmp_path / "worker.log")
    worker.start()
    try:
        assert worker.wait_ready(60)
    finally:
        assert worker.stop() == 0
    warnings = [
        orjson.loads(line)
        for line in (tmp_path / "worker.log").read_text().splitlines()
        if "topic setting differs" in line
    ]
    assert sorted((w["topic"], w["setting"], w["expected"], w["actual"]) for w in warnings) == [
        (topics.approvals, "retention.ms", str(30 * 86400_000), "86400000"),
        (topics.gate_state, "cleanup.policy", "compact", "delete"),
    ]
    assert all(w["level"] == "warning" for w in warnings)
