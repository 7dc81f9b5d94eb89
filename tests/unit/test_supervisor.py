"""``sluice run --processes N``'s supervisor: ids, ports, stop and failure handling
(with stand-in children; tests/integration/cli/test_run_processes.py runs real workers)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest

from sluice.errors import ConfigError
from sluice.settings import Settings
from sluice.supervisor import check_processes, child_settings, max_processes, supervise


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, fingerprint_key="k", **kw)  # type: ignore[arg-type]


def test_process_count_is_checked() -> None:
    check_processes(1, 9464)
    check_processes(max_processes(), 0)
    for bad in (0, -1, max_processes() + 1):
        with pytest.raises(ConfigError, match="--processes must be between 1 and"):
            check_processes(bad, 9464)
    with pytest.raises(ConfigError, match="run past 65535"):
        check_processes(2, 65535)


def test_children_get_distinct_stable_ids_and_ports(tmp_path: Path) -> None:
    s = _settings(tmp_path, worker_id="host-0", metrics_port=9464)
    kids = [child_settings(s, i) for i in range(3)]
    assert [k.worker_id for k in kids] == ["host-0-p0", "host-0-p1", "host-0-p2"]
    assert [k.metrics_port for k in kids] == [9464, 9465, 9466]
    # Any free port stays any free port (each child logs the one it got).
    assert child_settings(s.model_copy(update={"metrics_port": 0}), 1).metrics_port == 0
    # Deterministic: a restarted supervisor gives the same ids (zombies are fenced).
    assert [child_settings(s, i).worker_id for i in range(3)] == [k.worker_id for k in kids]


def _until_sigterm(settings: Settings, stages: tuple[str, ...], index: int) -> None:
    """A child that runs until SIGTERM, then leaves a marker named by its worker id."""

    def stop(_s: int, _f: FrameType | None) -> None:
        (settings.data_dir / f"stopped-{settings.worker_id}").write_text(str(index))
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    (settings.data_dir / f"started-{settings.worker_id}").write_text(str(settings.metrics_port))
    while True:
        time.sleep(0.05)


def _one_fails(settings: Settings, stages: tuple[str, ...], index: int) -> None:
    if index == 1:
        _wait_for(settings.data_dir, "started-*", 2)  # the others are up
        sys.exit(3)
    _until_sigterm(settings, stages, index)


def _wait_for(path: Path, pattern: str, n: int, timeout: float = 60.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(path.glob(pattern))
        if len(found) >= n:
            return found
        time.sleep(0.05)
    raise AssertionError(f"only {sorted(path.glob(pattern))} after {timeout} s")


def test_sigterm_is_forwarded_and_a_clean_stop_exits_0(tmp_path: Path) -> None:
    s = _settings(tmp_path, metrics_port=0)  # no worker id: the supervisor claims a slot

    def stop_when_started() -> None:
        _wait_for(tmp_path, "started-*", 3)
        os.kill(os.getpid(), signal.SIGTERM)

    t = threading.Thread(target=stop_when_started, daemon=True)
    t.start()
    code = supervise(s, ("intake",), 3, target=_until_sigterm, grace=30)
    t.join(5)
    assert code == 0
    host = socket.gethostname()
    want = {f"{host}-0-p{i}" for i in range(3)}
    assert {p.name.removeprefix("stopped-") for p in tmp_path.glob("stopped-*")} == want
    # The slot lock was released: the next supervisor reuses the same base id.
    from sluice.worker import claim_worker_id

    wid, lock = claim_worker_id(tmp_path)
    assert wid == f"{host}-0"
    assert lock is not None
    lock.close()


def test_a_dying_child_stops_the_others_and_its_code_is_returned(tmp_path: Path) -> None:
    s = _settings(tmp_path, worker_id="w", metrics_port=0)
    code = supervise(s, ("intake",), 3, target=_one_fails, grace=30)
    assert code == 3
    # The healthy children were stopped with SIGTERM (not killed, not left running).
    stopped = {p.name for p in tmp_path.glob("stopped-*")}
    started = {p.name.replace("started-", "stopped-") for p in tmp_path.glob("started-*")}
    assert stopped == started == {"stopped-w-p0", "stopped-w-p2"}
