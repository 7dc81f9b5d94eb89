"""``sluice dev broker`` stops on SIGTERM: the handler interrupts ``KafkaBroker.wait``.

Regression: the handler used to call ``stop()``, which waits on the same ``Popen`` whose
``wait`` it interrupted; Popen's wait lock is not reentrant, so the command hung until
killed. A real child process (``sleep``) stands in for the JVM: the subject is the
signal/wait interplay, not Kafka.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType

from sluice.tools.dev.broker import KafkaBroker


def _broker_with(cmd: list[str], tmp_path: Path) -> tuple[KafkaBroker, subprocess.Popen[bytes]]:
    broker = KafkaBroker(0, tmp_path)
    proc = subprocess.Popen(cmd)
    broker._proc = proc
    return broker, proc


def test_sigterm_during_wait_returns(tmp_path: Path) -> None:
    broker, proc = _broker_with(["sleep", "60"], tmp_path)

    def handler(signum: int, frame: FrameType | None) -> None:
        broker.request_stop(kill_after=5)

    old = signal.signal(signal.SIGTERM, handler)
    killer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    guard = threading.Timer(20, proc.kill)  # if the fix regresses, fail instead of hanging
    killer.start()
    guard.start()
    try:
        code = broker.wait()
    finally:
        signal.signal(signal.SIGTERM, old)
        guard.cancel()
    assert code == -signal.SIGTERM  # ended by our SIGTERM, not by the guard's SIGKILL


def test_request_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    # A child that ignores SIGTERM (as a wedged JVM might) is killed after kill_after.
    broker, proc = _broker_with(["sh", "-c", "trap '' TERM; sleep 60"], tmp_path)
    guard = threading.Timer(20, proc.kill)
    guard.start()
    try:
        import time

        time.sleep(0.2)  # let the shell install its trap
        broker.request_stop(kill_after=0.5)
        code = broker.wait()
    finally:
        guard.cancel()
    assert code == -signal.SIGKILL


def test_request_stop_on_exited_process_is_a_no_op(tmp_path: Path) -> None:
    broker, proc = _broker_with(["true"], tmp_path)
    proc.wait()
    broker.request_stop(kill_after=0.1)
    assert broker.wait() == 0
