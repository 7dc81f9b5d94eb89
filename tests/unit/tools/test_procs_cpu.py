"""``tree_cpu_seconds`` counts a process's descendants (the bench's ``--processes`` CPU
figure: the supervisor itself is idle, its children do the work)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sluice.tools.chaos.procs import tree_cpu_seconds


def test_cpu_of_a_grandchild_counts_for_the_tree() -> None:
    inner = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])"
    parent = subprocess.Popen([sys.executable, "-c", inner], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        seen = 0.0
        while time.monotonic() < deadline and seen < 1.0:
            time.sleep(0.2)
            seen = tree_cpu_seconds(parent.pid)
        # The parent only waits: the CPU seen is (almost all) the spinning grandchild's.
        assert seen >= 1.0
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    assert tree_cpu_seconds(parent.pid) == 0.0  # gone
    assert tree_cpu_seconds(os.getpid()) > 0
