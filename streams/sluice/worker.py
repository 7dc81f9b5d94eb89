"""``sluice run``: build every part from settings and run intake and gate in one process."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import logging
import signal
import socket
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry

from sluice import tracing
from sluice.agents.gate import GateAgent
from sluice.agents.intake import intake_agents
from sluice.clock import now_ms
from sluice.codec.framed import codec_for, ready
from sluice.errors import ConfigError
from sluice.gate.amend import amendment_checker, sanitizer_for, validator_for
from sluice.gate.reviewers import Registry, RegistryFile
from sluice.http import Health, MetricsServer
from sluice.kafka import TopicReport, create_topics, make_admin
from sluice.metrics import create as create_metrics
from sluice.models.records import AuditStage, Transition, audit_entry
from sluice.pipeline import Intake
from sluice.settings import Settings
from sluice.topics import TIMESTAMP_TYPE, ConfigDrift, Topics, config_drift

__all__ = [
    "Worker",
    "build_intake",
    "check_topic_configs",
    "claim_worker_id",
    "swap_registry",
]

#: ``message.timestamp.type`` the gate needs on ``workflow.decisions``.
LOG_APPEND_TIME = "LogAppendTime"
#: Reload audit records waiting for a chain (a worker that owns no gate partition yet).
_MAX_PENDING_AUDIT = 100

log = logging.getLogger(__name__)


def build_intake(settings: Settings, topics: Topics | None = None) -> tuple[Intake, Any]:
    """The pure intake stage from settings; returns (intake, policy).

    Raises:
        ConfigError: the policy or producers file is invalid (one line naming the entry).
    """
    from sluice.policy import load_policy

    topics = topics or Topics.with_prefix(settings.topic_prefix)
    producers = None
    if settings.producers_file is not None:
        from sluice.producers import load_producers

        producers = load_producers(settings.producers_file)
    policy = load_policy(settings.policy_file)
    from sluice.shadow import load_shadow

    shadow = load_shadow(settings, policy)  # None without SLUICE_SHADOW_POLICY_FILE
    # The gate checks amendments with the same field rules and sanitizer (gate.amend).
    validator = validator_for(settings)
    sanitizer = sanitizer_for(settings)
    intake = Intake(
        codec_for(settings, topics),
        validator,
        sanitizer,
        shadow or policy,
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


def check_topic_configs(
    topics: Topics, reports: list[TopicReport], *, gate: bool
) -> list[ConfigDrift]:
    """Check the topics' settings against :data:`sluice.topics.TOPIC_CONFIGS`.

    Returns:
        Every difference (each is also logged as a structured warning): the worker
        runs on, an operator decides.

    Raises:
        ConfigError: ``gate`` and ``workflow.decisions`` is not ``LogAppendTime`` (or its
            settings cannot be read): a decision's timestamp would be the sender's
            claim, and "arrived before expiry" could be backdated.
    """
    actual = {r.name: dict(r.configs) for r in reports if r.configs}
    if gate:
        decisions = actual.get(topics.decisions)
        if decisions is None:
            raise ConfigError(
                f"cannot read the settings of topic {topics.decisions} (DescribeConfigs);"
                f" the gate must see {TIMESTAMP_TYPE}={LOG_APPEND_TIME}"
            )
        found = decisions.get(TIMESTAMP_TYPE)
        if found != LOG_APPEND_TIME:
            raise ConfigError(
                f"topic {topics.decisions} has {TIMESTAMP_TYPE}={found}; the gate needs"
                f" {LOG_APPEND_TIME} (the broker's arrival time): set it with kafka-configs"
                f" --alter --entity-type topics --entity-name {topics.decisions}"
                f" --add-config {TIMESTAMP_TYPE}={LOG_APPEND_TIME}"
            )
    drift = config_drift(topics.configs(), actual)
    for d in drift:
        log.warning(
            "topic setting differs from sluice's topic table",
            extra={"topic": d.topic, "setting": d.key, "expected": d.expected, "actual": d.actual},
        )
    return drift


def swap_registry(agent: Any, registry: Registry) -> Any:
    """Put ``registry`` in force in a gate agent (the caller holds ``agent.lock``).

    Uses the agent's ``reload_registry`` (it also re-checks votes already counted)
    when it has one; otherwise swaps the registry the agent and its partitions' states
    check new decisions against. Returns what ``reload_registry`` returned (awaitable
    or None).
    """
    reload = getattr(agent, "reload_registry", None)
    if callable(reload):
        return reload(registry)
    agent.registry = registry
    for state in getattr(agent, "states", {}).values():
        state.registry = registry
    return None


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
        #: The watched reviewers registry file (None without SLUICE_REVIEWERS_FILE).
        self.registry_file: RegistryFile | None = None
        self._reload_now = asyncio.Event()  # set by SIGHUP, even before run() is there
        self._pending_audit: list[dict[str, Any]] = []
        #: Follows workflow.controls for intake (quarantines); None without intake.
        self.controls: Any = None

    def request_reload(self) -> None:
        """Look at the reviewers registry file now (the SIGHUP handler)."""
        self._reload_now.set()

    def _build(self) -> None:
        tracing.setup(self.settings)  # off unless SLUICE_OTEL: imports nothing
        codec = codec_for(self.settings, self.topics)
        signer = None
        if self.settings.audit_key_file is not None:
            from sluice.audit.keys import load_signer

            signer = load_signer(self.settings.audit_key_file)
        if "intake" in self.stages:
            intake, policy = build_intake(self.settings, self.topics)
            self.metrics.policy_info.info(
                {"policy_hash": policy.hash, "rules": str(len(policy.rules))}
            )
            self.agents += intake_agents(
                self.settings, codec, self.metrics, self.health, intake, policy, self.topics, signer
            )
        sanitizer = intake.sanitizer if "intake" in self.stages else None
        if "gate" in self.stages:
            if self.settings.reviewers_file is not None:
                self.registry_file = RegistryFile(self.settings.reviewers_file)
                registry = self.registry_file.current
            else:
                log.warning("no SLUICE_REVIEWERS_FILE: every reviewer decision will be refused")
                registry = Registry([])
            self.agents.append(
                GateAgent(
                    self.settings,
                    codec,
                    self.metrics,
                    self.health,
                    registry,
                    self.topics,
                    signer,
                    amendment_checker(self.settings, sanitizer),
                )
            )
        if self.settings.notify_file is not None:
            # Reviewer notifications: own consumer group, never part of a gate transaction.
            from sluice.notify.stage import NotifyStage

            self.agents.append(NotifyStage(self.settings, codec, self.metrics, self.topics))
        if "intake" in self.stages:
            from sluice.agents.quarantine import build_follower

            current = self.registry_file.current if self.registry_file is not None else None
            intake_agent = next(a for a in self.agents if a.name == "intake")
            self.controls = build_follower(
                self.settings, self.topics, self.metrics, intake_agent, current
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
        velocity = [self.topics.velocity_repartition, self.topics.velocity_changelog]
        if any(a.name == "velocity-router" for a in self.agents) and (
            len({counts.get(t) for t in velocity}) != 1
        ):
            raise ConfigError(
                "velocity rules need co-partitioned topics: "
                + ", ".join(f"{t} has {counts.get(t)}" for t in velocity)
                + " partitions; give them the same count"
            )
        check_topic_configs(self.topics, reports, gate="gate" in self.stages)
        self.server = MetricsServer(
            self.registry, self.health, self.settings.metrics_host, self.settings.metrics_port
        )
        await self.server.start()
        await ready(codec_for(self.settings, self.topics), stop)  # schema registry ids
        if self.controls is not None:
            await self.controls.start()  # quarantines in force before the first event
        for agent in self.agents:
            await agent.start()
        tasks = [asyncio.create_task(a.run(), name=a.name) for a in self.agents]
        stopper = asyncio.create_task(stop.wait())
        follow = (
            [asyncio.create_task(self.controls.run(), name="controls")] if self.controls else []
        )
        watcher = asyncio.create_task(self._watch_registry(), name="registry")
        log.info(
            "sluice worker running",
            extra={"worker_id": self.settings.worker_id, "metrics_port": self.server.port},
        )
        try:
            done, _ = await asyncio.wait(
                [*tasks, *follow, stopper], return_when=asyncio.FIRST_COMPLETED
            )
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for w in (watcher, *follow):
                w.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w
            if self.controls is not None:
                await self.controls.stop()
            for a in self.agents:
                a.request_stop()
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

    # -- reviewers registry: reload without a restart -------------------------------

    async def _watch_registry(self) -> None:
        """Poll the registry file (SIGHUP: at once) until cancelled; never raises."""
        if self.registry_file is None:
            return
        while True:
            forced = False
            try:
                await asyncio.wait_for(
                    self._reload_now.wait(), timeout=self.settings.registry_poll_seconds
                )
                forced = True
            except TimeoutError:
                pass
            self._reload_now.clear()
            try:
                await self.reload_registry(force=forced)
                await self._flush_registry_audit()
            except Exception as exc:
                log.error(
                    "reviewers registry watch failed; the registry in force is kept",
                    extra={"error": type(exc).__name__},
                )

    async def reload_registry(self, *, force: bool = False) -> bool:
        """Swap a changed, valid registry file into every gate agent.

        A file that fails any check keeps the registry in force (structured error log,
        ``sluice_registry_reloads_total{result="refused"}``). A swapped registry is
        audited (``registry_reloaded``, on the gate's chain, with the file's hash and
        counts). Returns True when a new registry was put in force.
        """
        if self.registry_file is None:
            return False
        trigger = "sighup" if force else "file_changed"
        in_force = self.registry_file.current
        result = self.registry_file.poll(force=force)
        if result is None:
            if force:
                log.info(
                    "reviewers registry unchanged",
                    extra={"hash": in_force.source_hash, "trigger": trigger},
                )
            return False
        if result.registry is None:
            self.metrics.registry_reloads.labels("refused").inc()
            log.error(
                "reviewers registry reload refused; the registry in force is kept",
                extra={
                    "error": result.error,
                    "file_hash": result.file_hash,
                    "hash_in_force": in_force.source_hash,
                    "trigger": trigger,
                },
            )
            return False
        registry = result.registry
        for agent in self.agents:
            if agent.name != "gate":
                continue
            async with agent.lock:
                done = swap_registry(agent, registry)
                if inspect.isawaitable(done):
                    await done
        if self.controls is not None:
            self.controls.controls.registry = registry
        self.metrics.registry_reloads.labels("ok").inc()
        counts = {
            "reviewers": len(registry),
            "keys": registry.key_count,
            "live_keys": registry.live_key_count,
        }
        log.info(
            "reviewers registry reloaded",
            extra={
                "hash": registry.source_hash,
                "previous_hash": in_force.source_hash,
                "trigger": trigger,
                **counts,
            },
        )
        if len(self._pending_audit) < _MAX_PENDING_AUDIT:
            self._pending_audit.append(
                audit_entry(
                    AuditStage.GATE,
                    Transition.REGISTRY_RELOADED,
                    at=now_ms(),
                    content_hash=registry.source_hash,
                    reason_code=trigger,
                    source=" ".join(f"{k}={v}" for k, v in counts.items()),
                )
            )
        return True

    async def _flush_registry_audit(self) -> None:
        """Write waiting ``registry_reloaded`` records on the gate's chain (oldest first)."""
        if not self._pending_audit:
            return
        gate = next((a for a in self.agents if a.name == "gate"), None)
        if gate is None or not gate.chains:
            return  # no chain owned yet: try again at the next poll
        from sluice.agents.control import append_control_audit

        admin = make_admin(self.settings)
        await admin.start()
        try:
            while self._pending_audit:
                async with gate.lock:
                    ok = await append_control_audit(gate, admin, self._pending_audit[0])
                if not ok:
                    return
                rec = self._pending_audit.pop(0)
                log.info(
                    "registry reload audited",
                    extra={"hash": rec["content_hash"], "trigger": rec["reason_code"]},
                )
        finally:
            await admin.close()


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
        worker = Worker(settings, stages=stages)
        loop.add_signal_handler(signal.SIGHUP, worker.request_reload)
        await worker.run(stop)

    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            lock.close()
