"""Session fixtures: one real Apache Kafka for the whole test session.

The broker runs on a free loopback port with its own temporary data directory; tests
get unique topic prefixes and group ids so they never see each other's records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.tools.dev.broker import KafkaBroker, free_port


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The session's Apache Kafka process (KRaft). Fails the session if it cannot start."""
    data = tmp_path_factory.mktemp("kafka")
    broker = KafkaBroker(
        free_port(pair=True), data, heap=os.environ.get("SLUICE_TEST_KAFKA_HEAP", "768m")
    )
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka(kafka_broker: KafkaBroker) -> str:
    """Bootstrap servers (``127.0.0.1:PORT``) of the session's real Kafka."""
    return kafka_broker.bootstrap


@pytest.fixture
def prefix() -> str:
    """A unique topic prefix for one test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def sluice_env(
    kafka: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment pointing sluice at the test Kafka with a unique prefix, data dir and groups."""
    env = {
        "SLUICE_BOOTSTRAP_SERVERS": kafka,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "SLUICE_GROUP_ID": f"{prefix}intake",
        "SLUICE_GATE_GROUP_ID": f"{prefix}gate",
        "SLUICE_FINGERPRINT_KEY": "test-fingerprint-key",
        "SLUICE_PARTITIONS": "2",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env
