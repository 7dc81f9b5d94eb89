"""The Strimzi KafkaTopic manifests carry sluice's topic table, value for value.

``sluice topics create`` applies :data:`sluice.topics.TOPIC_CONFIGS`; a cluster set up
from ``deploy/k8s/strimzi/kafka-topics.yaml`` must end up with the same retention,
cleanup policies and arrival-time stamping, or a worker would warn (or, for
``workflow.decisions``, refuse to start) on a cluster deployed as documented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.topics import DEPLOYMENT_KEYS, TIMESTAMP_TYPE, TOPIC_CONFIGS, Topics

ROOT = Path(__file__).resolve().parents[2]
TOPICS_YAML = ROOT / "deploy" / "k8s" / "strimzi" / "kafka-topics.yaml"


def strimzi_configs(text: str) -> dict[str, dict[str, str]]:
    """topicName → config (values as the strings Kafka sees) of every KafkaTopic."""
    out: dict[str, dict[str, str]] = {}
    for doc in yaml.safe_load_all(text):
        if not doc or doc.get("kind") != "KafkaTopic":
            continue
        config = doc["spec"].get("config") or {}
        out[doc["spec"]["topicName"]] = {str(k): str(v) for k, v in config.items()}
    return out


def differences(
    table: dict[str, dict[str, str]], manifests: dict[str, dict[str, str]]
) -> list[Any]:
    """What differs between the table and the manifests, as (topic, key, table, manifest)."""
    diffs: list[Any] = []
    for topic, want in table.items():
        got = manifests.get(topic)
        if got is None:
            diffs.append((topic, None, "missing", None))
            continue
        for key in sorted(set(want) | set(got)):
            if key in DEPLOYMENT_KEYS and key not in want:
                continue
            if want.get(key) != got.get(key):
                diffs.append((topic, key, want.get(key), got.get(key)))
    return diffs


def test_strimzi_topics_agree_with_the_topic_table() -> None:
    manifests = strimzi_configs(TOPICS_YAML.read_text())
    assert differences(TOPIC_CONFIGS, manifests) == []


def test_the_table_covers_every_topic_and_the_settings_the_guarantees_need() -> None:
    t = Topics()
    assert set(TOPIC_CONFIGS) == set(t.all())
    assert TOPIC_CONFIGS[t.decisions][TIMESTAMP_TYPE] == "LogAppendTime"
    assert TOPIC_CONFIGS[t.gate_state]["cleanup.policy"] == "compact"
    assert TOPIC_CONFIGS[t.audit]["retention.ms"] == "-1"
    for name in (t.approvals, t.decisions, t.dlq, t.approved, t.rejected):
        assert int(TOPIC_CONFIGS[name]["retention.ms"]) > 0


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        ("workflow.approvals", "retention.ms", "1209600000"),  # 14 d, the table says 30 d
        ("workflow.dlq", "retention.ms", "2592000000"),
        ("workflow.events.approved", "retention.ms", "1"),
        ("workflow.decisions", TIMESTAMP_TYPE, "CreateTime"),
        ("workflow.gate.state", "cleanup.policy", "delete"),
    ],
)
def test_a_manifest_that_drifts_is_caught(topic: str, key: str, value: str) -> None:
    manifests = strimzi_configs(TOPICS_YAML.read_text())
    manifests[topic][key] = value
    assert differences(TOPIC_CONFIGS, manifests) == [(topic, key, TOPIC_CONFIGS[topic][key], value)]


def test_a_manifest_missing_a_setting_or_adding_one_is_caught() -> None:
    manifests = strimzi_configs(TOPICS_YAML.read_text())
    del manifests["workflow.decisions"][TIMESTAMP_TYPE]
    manifests["workflow.events"]["retention.bytes"] = "1000"
    assert differences(TOPIC_CONFIGS, manifests) == [
        ("workflow.events", "retention.bytes", None, "1000"),
        ("workflow.decisions", TIMESTAMP_TYPE, "LogAppendTime", None),
    ]
