"""``sluice run`` worker processes for chaos runs and benchmarks: start, readiness,
metrics, SIGKILL and SIGTERM, resident memory."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

__all__ = ["WorkerHandle", "rss_kb", "tree_cpu_seconds", "worker_env"]

log = logging.getLogger(__name__)


def worker_env(
    bootstrap_servers: str, prefix: str, fingerprint_key: str, data_dir: Path | None = None
) -> dict[str, str]:
    """Environment for a worker of its own: topics, intake and gate groups under ``prefix``
    (so runs never see each other's records), and its data directory if given."""
    env = {
        "SLUICE_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_GROUP_ID": f"{prefix}intake",
        "SLUICE_GATE_GROUP_ID": f"{prefix}gate",
        "SLUICE_FINGERPRINT_KEY": fingerprint_key,
    }
    if data_dir is not None:
        env["SLUICE_DATA_DIR"] = str(data_dir)
    return env


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in kB (Linux ``/proc/<pid>/status``); 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants that are alive now
    (Linux ``/proc``; 0 for any that is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


class WorkerHandle:
    """``python -m sluice run`` as a child process.

    Args:
        env: SLUICE_* variables for the worker (merged over this process's environment).
        log_path: the worker's stdout/stderr (appended across restarts).
        worker_id: SLUICE_WORKER_ID; workers alive at the same time need distinct ids,
            a restarted worker should reuse its id (its producer then fences the dead one).
        processes: ``sluice run --processes``; above 1 :meth:`start` waits for every
            child's metrics port (:attr:`metrics_ports`) and :meth:`wait_ready` for all.
    """

    def __init__(
        self, env: dict[str, str], log_path: Path, *, worker_id: str = "w0", processes: int = 1
    ) -> None:
        self.env = {
            **os.environ,
            "SLUICE_METRICS_PORT": "0",
            "SLUICE_LOG_LEVEL": "INFO",
            **env,
            "SLUICE_WORKER_ID": worker_id,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port: int | None = None
        self.processes = processes
        #: Each process's metrics port (in the order they came up).
        self.metrics_ports: list[int] = []
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The running process id, or None."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 60.0) -> None:
        """Launch and wait until the metrics port is announced in the log.

        Raises:
            RuntimeError: the worker exited or did not come up within ``timeout``.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out: IO[bytes] = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        extra = ["--processes", str(self.processes)] if self.processes > 1 else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice", "run", *extra],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode("utf-8", "replace")
            ports = [int(p) for p in re.findall(r'"metrics_port": ?(\d+)', text)]
            if len(ports) >= self.processes:
                self.metrics_ports = ports[: self.processes]
                self.metrics_port = ports[0]
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}: {text[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("worker did not start in time")

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Poll /readyz until the worker (each process) holds its partitions; False on
        timeout."""
        import urllib.request

        deadline = time.monotonic() + timeout
        waiting = list(self.metrics_ports) or [self.metrics_port or 0]
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            for port in list(waiting):
                try:
                    url = f"http://127.0.0.1:{port}/readyz"
                    with urllib.request.urlopen(url, timeout=2) as r:
                        if r.status == 200:
                            waiting.remove(port)
                except Exception:  # not yet (503) or not listening yet
                    log.debug("not ready yet")
            if not waiting:
                return True
            time.sleep(0.2)
        return False

    def metrics_text(self, port: int | None = None) -> str:
        """The worker's /metrics page (of the process serving ``port``; default: the first)."""
        import urllib.request

        url = f"http://127.0.0.1:{port or self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str, *, port: int | None = None, **labels: str) -> float:
        """Sum of samples of ``name`` whose labels include ``labels`` (0 if none), on the
        process serving ``port`` (default: the first)."""
        total = 0.0
        for line in self.metrics_text(port).splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric = head.split("{", 1)[0]
            if metric != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def kill(self) -> None:
        """SIGKILL (a crash: no cleanup, open transaction left behind)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)
