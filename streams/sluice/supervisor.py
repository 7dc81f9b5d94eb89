"""``sluice run --processes N``: N worker processes on one host, one supervisor.

The intake is CPU-bound in Python (sanitize is ~1 ms per event), so on a multi-core
host more processes are the direct lever. Each child is an ordinary worker
(:func:`sluice.worker.run_worker`): a member of the intake and gate consumer groups
like a worker on another machine, so Kafka spreads the partitions over all of them.

* **Ids.** Transactional ids derive from the worker id (``<group>-<worker_id>``);
  two live producers with one id would fence each other. Child ``i`` runs as
  ``<worker_id>-p<i>``, the base being ``SLUICE_WORKER_ID`` or the slot the supervisor
  claims under data_dir (:func:`sluice.worker.claim_worker_id`). The ids are the same
  after a restart, so a restarted child's producer fences its own zombie at once.
* **Metrics.** One port cannot be shared: child ``i`` serves /metrics, /healthz and
  /readyz on ``metrics_port + i`` (``0``: each child any free port, logged), same
  metric names; scrape each port (they are separate Prometheus targets).
* **Logs.** Every JSON line of child ``i`` carries ``"process_index": i``.
* **Stop.** SIGTERM or SIGINT to the supervisor is forwarded to every child; each
  finishes its current transaction and leaves its groups; the supervisor exits 0 once
  all have exited 0 (after :data:`STOP_GRACE_SECONDS` it kills what is left, exit 1).
* **Failure.** A child that exits on its own (a fatal error: bad configuration, a
  fenced or unreachable broker) stops the others and the supervisor exits with that
  child's code (2 for a configuration error, else 1). No restart in place: such errors
  repeat in every child, and the orchestrator (systemd, Kubernetes) already owns
  restart policy and backoff; a restarted supervisor reuses the same ids. A child that
  cannot be started (spawn fails) stops those already started before the error is
  raised; a stop signal during start-up reaches the children started after it.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import IO

from sluice.errors import ConfigError, SluiceError
from sluice.settings import Settings

__all__ = [
    "STOP_GRACE_SECONDS",
    "ProcessIndexFilter",
    "check_processes",
    "child_settings",
    "max_processes",
    "run_child",
    "supervise",
]

log = logging.getLogger(__name__)

#: How long children get to stop after SIGTERM before they are killed (the worker
#: itself gives its loops 15 s to finish their transactions).
STOP_GRACE_SECONDS = 30.0

#: A child's target: (its settings, the stages, its index) → exits the process.
ChildTarget = Callable[[Settings, tuple[str, ...], int], None]


def max_processes() -> int:
    """Upper bound of ``--processes``: four per CPU (more only adds context switches)."""
    return (os.cpu_count() or 1) * 4


def check_processes(n: int, metrics_port: int) -> None:
    """Refuse a process count outside 1..:func:`max_processes`, or one whose metrics
    ports (``metrics_port + i``) would run past 65535.

    Raises:
        ConfigError: with the allowed range.
    """
    top = max_processes()
    if not 1 <= n <= top:
        raise ConfigError(
            f"--processes must be between 1 and {top} (4 x {os.cpu_count() or 1} CPUs), got {n}"
        )
    if metrics_port and metrics_port + n - 1 > 65535:
        raise ConfigError(
            f"metrics ports {metrics_port}..{metrics_port + n - 1} run past 65535;"
            " lower --metrics-port or use 0 (any free port)"
        )


def child_settings(settings: Settings, index: int) -> Settings:
    """Child ``index``'s settings: worker id ``<worker_id>-p<index>``, metrics port
    ``metrics_port + index`` (0 stays 0)."""
    port = settings.metrics_port + index if settings.metrics_port else 0
    return settings.model_copy(
        update={"worker_id": f"{settings.worker_id}-p{index}", "metrics_port": port}
    )


class ProcessIndexFilter(logging.Filter):
    """Adds ``process_index`` to every record (the JSON formatter prints extra fields)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_index = self.index
        return True


def run_child(settings: Settings, stages: tuple[str, ...], index: int) -> None:
    """A child's body (spawned): the ordinary worker, its log lines tagged with
    ``index``; exit code 0 on a requested stop, 2 on a configuration error, 1 else."""
    # Until the worker's event loop takes SIGTERM over, it interrupts start-up cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from sluice.logs import setup_logging
    from sluice.worker import run_worker

    setup_logging(settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(ProcessIndexFilter(index))
    try:
        run_worker(settings, stages)
    except KeyboardInterrupt:
        sys.exit(0)
    except SluiceError as exc:
        print(f"sluice: error: [process {index}] {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception:
        log.exception("worker process failed")
        sys.exit(1)


def supervise(
    settings: Settings,
    stages: tuple[str, ...],
    n: int,
    *,
    target: ChildTarget = run_child,
    grace: float = STOP_GRACE_SECONDS,
) -> int:
    """Run ``n`` children of ``target`` until SIGTERM/SIGINT or one exits on its own.

    Returns:
        The exit code for the supervisor: 0 after a requested stop that every child
        finished with 0; else the first failed child's code (1 if it died by a signal).
    """
    check_processes(n, settings.metrics_port)
    lock: IO[str] | None = None
    if not settings.worker_id:
        from sluice.worker import claim_worker_id

        base, lock = claim_worker_id(settings.data_dir)
        settings = settings.model_copy(update={"worker_id": base})
    try:
        return _supervise(settings, stages, n, target, grace)
    finally:
        if lock is not None:
            lock.close()


def _supervise(
    settings: Settings,
    stages: tuple[str, ...],
    n: int,
    target: ChildTarget,
    grace: float,
) -> int:
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    stopping: list[str] = []  # why we stop (empty: running)

    signalled: set[int] = set()  # pids sent SIGTERM (once each)

    def stop_all(why: str) -> None:
        if not stopping:
            stopping.append(why)
        for p in procs:
            if p.exitcode is None and p.pid is not None and p.pid not in signalled:
                signalled.add(p.pid)
                p.terminate()  # SIGTERM: the child's loop finishes its transaction

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_all(signal.Signals(signum).name)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            for i in range(n):
                if stopping:
                    break
                child = ctx.Process(
                    target=target,
                    args=(child_settings(settings, i), stages, i),
                    name=f"sluice-worker-p{i}",
                )
                child.start()
                procs.append(child)
        except BaseException:
            # A child could not be started: those already running must not outlive us.
            stop_all("worker process could not start")
            for p in procs:
                p.join(grace)
                if p.exitcode is None:
                    p.kill()
                    p.join(5)
            raise
        if stopping:
            stop_all(stopping[0])  # a signal during start-up: the children started since
        log.info(
            "sluice supervisor running",
            extra={
                "processes": n,
                "worker_ids": [f"{settings.worker_id}-p{i}" for i in range(n)],
                "pids": [p.pid for p in procs],
            },
        )
        failed: int | None = None
        seen: set[int] = set()  # indexes of children whose exit was handled
        deadline: float | None = None
        while len(seen) < len(procs):
            if stopping and deadline is None:
                deadline = time.monotonic() + grace
            if deadline is not None and time.monotonic() > deadline:
                for p in procs:
                    if p.exitcode is None:
                        log.error("worker process did not stop; killing it", extra=_who(p))
                        p.kill()
                        p.join(5)
                failed = failed or 1
                break
            alive = [p.sentinel for p in procs if p.exitcode is None]
            if alive:
                multiprocessing.connection.wait(alive, timeout=0.5)
            for i, p in enumerate(procs):
                if p.exitcode is None or i in seen:
                    continue
                seen.add(i)
                # Asked to stop: 0, or killed by our SIGTERM before it could handle it.
                if stopping and p.exitcode in (0, -signal.SIGTERM):
                    continue
                log.error(
                    "worker process exited; stopping the others",
                    extra={**_who(p), "exit_code": p.exitcode},
                )
                if failed is None:
                    failed = p.exitcode if p.exitcode and p.exitcode > 0 else 1
                stop_all("worker process exited")
        for p in procs:
            p.join()
        log.info(
            "sluice supervisor stopped",
            extra={"reason": stopping[0] if stopping else "", "exit_codes": _codes(procs)},
        )
        return failed or 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _who(p: BaseProcess) -> dict[str, object]:
    return {"process_name": p.name, "pid": p.pid}


def _codes(procs: list[BaseProcess]) -> list[int | None]:
    return [p.exitcode for p in procs]
