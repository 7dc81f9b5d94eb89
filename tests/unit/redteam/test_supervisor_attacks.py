"""Red team: ``sluice run --processes N``'s supervisor when starting children goes wrong.

A child that could not be started (spawn failed: EAGAIN, out of memory) must not leave
the children already started running, unsupervised, with their transactional ids; a
SIGTERM that arrives while children are being started must reach every child.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from sluice import supervisor
from sluice.settings import Settings
from tests.unit.test_supervisor import _settings, _until_sigterm, _wait_for


def _cleanup() -> None:
    for p in multiprocessing.active_children():  # only our own children
        p.kill()
        p.join(5)


def test_a_child_that_cannot_start_stops_those_already_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = supervisor.child_settings

    def failing(settings: Settings, index: int) -> Settings:
        if index == 1:
            _wait_for(tmp_path, "started-*", 1)  # child 0 is up, its handler set
            raise OSError(11, "Resource temporarily unavailable")
        return real(settings, index)

    monkeypatch.setattr(supervisor, "child_settings", failing)
    s = _settings(tmp_path, worker_id="w", metrics_port=0)
    try:
        with pytest.raises(OSError):
            supervisor.supervise(s, ("intake",), 3, target=_until_sigterm, grace=30)
        # child 0 was asked to stop (and waited for), not left running
        assert (tmp_path / "stopped-w-p0").exists()
        assert multiprocessing.active_children() == []
    finally:
        _cleanup()


def test_sigterm_while_children_start_reaches_every_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = supervisor.child_settings
    sent: list[int] = []

    def signal_after_first(settings: Settings, index: int) -> Any:
        if index == 1 and not sent:
            # SIGTERM lands while child 1 is being created (not yet in the list)
            sent.append(1)
            _wait_for(tmp_path, "started-*", 1)
            os.kill(os.getpid(), signal.SIGTERM)
        return real(settings, index)

    monkeypatch.setattr(supervisor, "child_settings", signal_after_first)
    s = _settings(tmp_path, worker_id="w", metrics_port=0)
    try:
        # grace 1 s: a child that never got SIGTERM is killed and the code is 1
        code = supervisor.supervise(s, ("intake",), 2, target=_until_sigterm, grace=1)
        assert code == 0
    finally:
        _cleanup()
