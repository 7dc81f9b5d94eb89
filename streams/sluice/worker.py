"""``sluice run``: build every part from settings and run intake and gate in one process."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import signal
import socket
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry

from sluice.agents.gate import GateAgent
from sluice.agents.intake import IntakeAgent
from sluice.codec import default_codec
from sluice.errors import ConfigError
from sluice.http import Health, MetricsServer
from sluice.kafka_io import create_topics
from sluice.metrics import create as create_metrics
from sluice.models.event import Limits
from sluice.pipeline import Intake
from sluice.settings import Settings
from sluice.topics import Topics
from sluice.validate import Validator

__all__ = ["Worker", "build_intake", "claim_worker_id"]

log = logging.getLogger(__name__)


def build_intake(settings: Settings, topics: Topics | None = None) -> tuple[Intake, Any]:
    """The pure intake stage from settings; returns (intake, policy).

    Raises:
        ConfigError: the policy or producers file is invalid (one line naming the entry).
    """
    from sluice.policy import load_policy
    from sluice.sanitize import Sanitizer

    topics = topics or Topics.with_prefix(settings.topic_prefix)
    producers = None
    if settings.producers_file is not None:
        from sluice.producers import load_producers

        producers = load_producers(settings.producers_file)
    policy = load_policy(settings.policy_file)
    validator = Validator(
        Limits(
            max_text_chars=settings.max_text_chars,
            max_content_chars=settings.max_content_chars,
            max_map_entries=settings.max_map_entries,
            max_map_value_chars=settings.max_map_value_chars,
        ),
        max_past_ms=settings.max_past_seconds * 1000,
        max_future_ms=settings.max_future_seconds * 1000,
    )
    sanitizer = Sanitizer(settings.fingerprint_key_bytes(), re2_max_mem_mb=settings.re2_max_mem_mb)
    intake = Intake(
        default_codec(),
        validator,
        sanitizer,
        policy,
        topics,
        max_record_bytes=settings.max_record_bytes,
        producers=producers,
    )
    return intake, policy


def claim_worker_id(data_dir: Path) -> tuple[str, IO[str] | None]:
    """A worker id stable across restarts and unique among live workers on this host.

    The transactional id derives from it: reusing it after a crash makes the new
    producer fence the dead one and abort its open transaction at once, instead of
    leaving read_committed consumers blocked until the transaction times out. Slots
    are claimed with an exclusive flock in ``data_dir`` (released when the process dies).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for slot in range(256):
        fh = open(data_dir / f"worker-slot-{slot}.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        return f"{host}-{slot}", fh
    raise ConfigError(f"no free worker slot in {data_dir}")


class Worker:
    """Intake + gate + /metrics, sharing one registry and health state."""

    def __init__(self, settings: Settings, *, stages: tuple[str, ...] = ("intake", "gate")) -> None:
        self.settings = settings
        self.stages = stages
        self.registry = CollectorRegistry()
        self.metrics = create_metrics(self.registry)
        self.health = Health()
        self.topics = Topics.with_prefix(settings.topic_prefix)
        self.agents: list[Any] = []
        self.server: MetricsServer | None = None

    def _build(self) -> None:
        codec = default_codec()
        signer = None
        if self.settings.audit_key_file is not None:
            from sluice.audit.keys import load_signer

            signer = load_signer(self.settings.audit_key_file)
        if "intake" in self.stages:
            intake, policy = build_intake(self.settings, self.topics)
            self.metrics.policy_info.info(
                {"policy_hash": policy.hash, "rules": str(len(policy.rules))}
            )
            self.agents.append(
                IntakeAgent(
                    self.settings, codec, self.metrics, self.health, intake, self.topics, signer
                )
            )
        if "gate" in self.stages:
            from sluice.gate.reviewers import Registry, load_registry

            if self.settings.reviewers_file is not None:
                registry = load_registry(self.settings.reviewers_file)
            else:
                log.warning("no SLUICE_REVIEWERS_FILE: every reviewer decision will be refused")
                registry = Registry([])
            self.agents.append(
                GateAgent(
                    self.settings, codec, self.metrics, self.health, registry, self.topics, signer
                )
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, run until ``stop`` is set, then shut down cleanly."""
        self._build()
        try:
            reports = await create_topics(self.settings, self.topics)
        except Exception as exc:
            raise ConfigError(
                f"cannot reach Kafka or create topics at "
                f"{self.settings.bootstrap_servers} ({type(exc).__name__})"
            ) from None
        counts = {r.name: r.partitions for r in reports}
        gate = [self.topics.approvals, self.topics.decisions, self.topics.gate_state]
        if "gate" in self.stages and len({counts.get(t) for t in gate}) != 1:
            raise ConfigError(
                "the gate needs co-partitioned topics: "
                + ", ".join(f"{t} has {counts.get(t)}" for t in gate)
                + " partitions; give them the same count"
            )
        self.server = MetricsServer(
            self.registry, self.health, self.settings.metrics_host, self.settings.metrics_port
        )
        await self.server.start()
        for agent in self.agents:
            await agent.start()
        tasks = [asyncio.create_task(a.run(), name=a.name) for a in self.agents]
        stopper = asyncio.create_task(stop.wait())
        log.info(
            "sluice worker running",
            extra={"worker_id": self.settings.worker_id, "metrics_port": self.server.port},
        )
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for a in self.agents:
                a._stopping.set()  # noqa: SLF001
            # Let each loop finish its current transaction, then cancel what is left.
            await asyncio.wait(tasks, timeout=15)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            for a in self.agents:
                await a.stop()
            await self.server.stop()
            stopper.cancel()


def run_worker(settings: Settings, stages: tuple[str, ...] = ("intake", "gate")) -> None:
    """Blocking entry point with SIGTERM/SIGINT handling."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    lock = None
    if not settings.worker_id:
        worker_id, lock = claim_worker_id(settings.data_dir)
        settings = settings.model_copy(update={"worker_id": worker_id})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Worker(settings, stages=stages).run(stop)

    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            lock.close()
