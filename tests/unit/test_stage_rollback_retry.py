"""An aborted batch's state rollback waits for Kafka instead of killing the stage.

Regression (reliability suite, broker restart): the gate's rollback re-reads its
changelog; with the broker down that read raised out of ``_abort`` and the worker exited.
"""

from __future__ import annotations

import asyncio

import pytest

from sluice.agents.base import Stage


class _Flaky(Stage):
    def __init__(self, failures: int) -> None:  # no clients: only the rollback path runs
        self.name = "flaky"
        self._stopping = asyncio.Event()
        self.failures = failures
        self.calls = 0

    async def rollback_state(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("Unable to bootstrap")


async def test_rollback_is_retried_until_it_succeeds() -> None:
    stage = _Flaky(failures=2)
    await stage._rollback_state_retrying()
    assert stage.calls == 3


async def test_rollback_failure_surfaces_once_stopping() -> None:
    stage = _Flaky(failures=10**6)
    stage._stopping.set()
    with pytest.raises(ConnectionError):
        await stage._rollback_state_retrying()
    assert stage.calls == 1
