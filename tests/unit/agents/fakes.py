"""Fakes shared by the agents' transaction tests: a stage on fake clients (no broker).

Each test file brings the fake producer for the faults it plays (refused batches and
fences in ``test_transactions.py``, failed sends and commits in
``test_outbox_abort.py``); the stage takes producers from a queue, one per (re)start.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from sluice.agents import base
from sluice.agents.base import Stage
from sluice.codec import default_codec
from sluice.http import Health
from sluice.kafka import outbox
from sluice.metrics import create
from sluice.settings import load_settings

__all__ = ["FakeBatch", "FakeStage", "aborted", "speed_up_restarts"]


class FakeBatch:
    """A producer batch that keeps the values (and headers) appended to it."""

    def __init__(self) -> None:
        self.values: list[bytes | None] = []
        self.headers: list[Any] = []

    def append(
        self, *, timestamp: Any, key: bytes | None, value: bytes | None, headers: Any = ()
    ) -> object:
        self.values.append(value)
        self.headers.append(list(headers))
        return object()

    def record_count(self) -> int:
        return len(self.values)


class FakeStage(Stage):
    """A stage reading ``in`` and auditing to ``audit``; each producer (re)start takes the
    next of ``producers`` (none left: the broker is unreachable)."""

    name = "probe"
    abort_timeout_s = 0.2

    def __init__(self, producers: list[Any], **settings: Any) -> None:
        s = load_settings(fingerprint_key="k" * 8, data_dir="/nonexistent", **settings)
        super().__init__(
            s,
            default_codec(),
            create(CollectorRegistry()),
            Health(),
            group_id="g",
            inputs=["in"],
            chain_topic="in",
            audit_topic="audit",
        )
        self._queue = list(producers)
        self.producer = self._queue.pop(0)

    async def _start_producer(self) -> None:
        if not self._queue:
            raise KafkaConnectionError()
        self.producer = self._queue.pop(0)
        await self.producer.start()


def aborted(stage: Stage) -> float:
    """How many transactions ``stage`` aborted."""
    return stage.metrics.transactions_aborted.labels(stage.name)._value.get()


def speed_up_restarts(
    monkeypatch: pytest.MonkeyPatch, first_s: float, max_s: float, sleep_cap: float
) -> None:
    """Shorten the producer restart backoff to ``first_s``..``max_s`` and every sleep of
    the stage to at most ``sleep_cap`` seconds."""
    monkeypatch.setattr(outbox, "RESTART_FIRST_S", first_s)
    monkeypatch.setattr(outbox, "RESTART_MAX_S", max_s)
    real_sleep = asyncio.sleep

    async def short_sleep(delay: float, *a: Any) -> Any:
        return await real_sleep(min(delay, sleep_cap), *a)

    monkeypatch.setattr(base.asyncio, "sleep", short_sleep)
