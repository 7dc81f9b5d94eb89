"""Fixtures of the fault-injection suite: a prepared chaos scenario, a restorable broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.tools.chaos.scenario import Scenario, prepare
from sluice.tools.dev.broker import KafkaBroker


@pytest.fixture
def scenario(sluice_env: dict[str, str], tmp_path: Path) -> Scenario:
    """Policy (long + 4 s holds, a deny rule) and a freshly keyed reviewers registry."""
    return prepare(sluice_env, tmp_path / "chaos", short_ttl_s=4)


@pytest.fixture
def restorable_broker(kafka_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    """The session broker, guaranteed to be running again when the test ends."""
    yield kafka_broker
    if kafka_broker._proc is None or kafka_broker._proc.poll() is not None:
        kafka_broker._proc = None
        kafka_broker.start()
