"""Stop every :class:`~sluice.kafka.prefetch.Prefetcher` a test started.

A test that leaves a prefetcher's fetch task pending drops the last reference to it; the
task is then collected later, inside some other test, and asyncio's "Task was destroyed
but it is pending!" handler runs in that finalizer. CPython 3.11 turns such an error
raised while ``ast.parse`` builds its tree into ``SystemError: AST constructor recursion
depth mismatch`` (python/cpython#106905), which failed ``tests/unit/test_layers.py`` in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sluice.kafka.prefetch import Prefetcher


@pytest.fixture(autouse=True)
async def stop_prefetchers(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Prefetcher]]:
    started: list[Prefetcher] = []
    real = Prefetcher._ensure_running

    def tracked(self: Prefetcher) -> None:
        if self not in started:
            started.append(self)
        real(self)

    monkeypatch.setattr(Prefetcher, "_ensure_running", tracked)
    yield started
    for p in started:
        await p.pause()
