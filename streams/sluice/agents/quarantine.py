"""Follow ``workflow.controls`` in every intake worker: quarantines applied without a restart.

A consumer of its own (no group: every worker reads every control) reads the compacted
topic from its beginning at start (:meth:`ControlFollower.start`, before intake consumes
anything), then tails it (:meth:`ControlFollower.run`, short fetch waits: a control is in
force within about ``_FETCH_WAIT_MS`` plus one intake batch of its publication). The
state is in memory (:class:`sluice.quarantine.Controls`, bounded).

Each control read while tailing is audited on the intake stage's chain
(:func:`sluice.agents.control.append_control_audit`): one record per worker that
applied it (``source`` names the worker and the control's offset). Controls replayed at
start are not audited again (they were when first applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import TopicPartition

from sluice.clock import now_ms
from sluice.kafka import make_admin, make_consumer, refresh_metadata
from sluice.metrics import Metrics
from sluice.models.records import AuditStage, Transition, audit_entry
from sluice.quarantine.records import SubjectType, decode_control, value_hash
from sluice.quarantine.state import RULE, Applied, Controls
from sluice.settings import Settings

__all__ = ["ControlFollower"]

log = logging.getLogger(__name__)

_FETCH_WAIT_MS = 50
_POLL_MS = 200
_MAX_PENDING_AUDIT = 1000
_GAUGE_EVERY_S = 5.0
#: Seconds without progress before reading the controls at start gives up.
_RESTORE_TIMEOUT_S = 60.0

_TRANSITION = {
    "added": Transition.QUARANTINE_ADDED,
    "lift_counted": Transition.QUARANTINE_LIFT_COUNTED,
    "lifted": Transition.QUARANTINE_LIFTED,
    "pending": Transition.QUARANTINE_LIFT_COUNTED,
    "refused": Transition.CONTROL_REFUSED,
}


class ControlFollower:
    """Reads controls into :class:`Controls`; audits and counts what each did."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        metrics: Metrics,
        controls: Controls,
        stage: Any = None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.metrics = metrics
        self.controls = controls
        #: The intake stage whose chain carries the audit records (None: not audited).
        self.stage = stage
        self._consumer: Any = None
        self._admin: Any = None
        self._audit: list[dict[str, Any]] = []
        self._gauge_at = 0.0

    async def start(self) -> int:
        """Read every control from the beginning to the current end; returns how many."""
        consumer = make_consumer(self.settings, group_id=None, fetch_max_wait_ms=_FETCH_WAIT_MS)
        await consumer.start()
        self._consumer = consumer
        parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            await refresh_metadata(consumer)
            parts = consumer.partitions_for_topic(self.topic) or {0}
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RESTORE_TIMEOUT_S
        n = 0
        while await self._behind(tps, ends):
            if loop.time() > deadline:
                raise TimeoutError(f"reading {self.topic} timed out")
            batch = await consumer.getmany(timeout_ms=_POLL_MS, max_records=10_000)
            if batch:  # a deadline without progress: a long (or flooded) topic still loads
                deadline = loop.time() + _RESTORE_TIMEOUT_S
            for recs in batch.values():
                for rec in recs:
                    self._apply(rec, audit=False)
                    n += 1
        self._gauges(force=True)
        log.info(
            "controls restored",
            extra={
                "topic": self.topic,
                "records": n,
                "in_force": len(self.controls.in_force(now_ms())),
            },
        )
        return n

    async def _behind(self, tps: list[TopicPartition], ends: dict[TopicPartition, int]) -> bool:
        for tp in tps:
            if await self._consumer.position(tp) < ends[tp]:
                return True
        return False

    async def run(self) -> None:
        """Tail the topic until cancelled; never raises on a bad record."""
        consumer = self._consumer
        if consumer is None:
            return
        while True:
            batch = await consumer.getmany(timeout_ms=_POLL_MS, max_records=1000)
            for recs in batch.values():
                for rec in recs:
                    self._apply(rec, audit=True)
            self._gauges(force=bool(batch))
            if self._audit:
                try:
                    await self._flush_audit()
                except Exception as exc:
                    log.warning(
                        "control audit failed; will retry", extra={"error": type(exc).__name__}
                    )

    async def stop(self) -> None:
        """Stop the consumer and the admin client."""
        for client, close in ((self._consumer, "stop"), (self._admin, "close")):
            if client is not None:
                with contextlib.suppress(Exception):
                    await getattr(client, close)()
        self._consumer = self._admin = None

    # -- one record ---------------------------------------------------------------------

    def _apply(self, rec: Any, *, audit: bool) -> Applied:
        now = now_ms()
        control = decode_control(rec.value)
        result = self.controls.apply(control, now)
        reason = result.refusal.value if result.refusal is not None else "none"
        if audit:
            self.metrics.controls_applied.labels(result.result, reason).inc()
        fields = {"partition": rec.partition, "offset": rec.offset, "result": result.result}
        if result.refusal is not None:
            log.warning("control refused", extra={**fields, "reason": reason})
        else:
            log.info(
                "control applied",
                extra={**fields, "quarantine_id": control["quarantine_id"] if control else None},
            )
        if audit and self.stage is not None and len(self._audit) < _MAX_PENDING_AUDIT:
            self._audit.append(self._audit_fields(rec, control, result, now))
        return result

    def _audit_fields(
        self, rec: Any, c: dict[str, Any] | None, result: Applied, now: int
    ) -> dict[str, Any]:
        stype = c["subject_type"] if c is not None else None
        subject = c["subject"] if c is not None else None
        return audit_entry(
            AuditStage.INTAKE,
            _TRANSITION[result.result],
            outcome=c.get("mode") or c["action"] if c else None,
            reviewer_id=c["reviewer_id"][:128] if c else None,
            decision_id=c["control_id"] if c else None,
            reason_code=result.refusal.value if result.refusal is not None else result.result,
            rule=RULE,
            content_hash=value_hash(rec.value or b""),
            source=f"{rec.topic}/{rec.partition}/{rec.offset} worker={self.settings.worker_id}",
            at=now,
            actor_id=subject if stype == SubjectType.ACTOR else None,
            workflow_id=subject if stype == SubjectType.WORKFLOW else None,
            run_id=subject if stype == SubjectType.RUN else None,
        )

    async def _flush_audit(self) -> None:
        stage = self.stage
        if stage is None or not stage.chains:
            return  # no chain owned yet: the next turn tries again
        from sluice.agents.control import append_control_audit

        if self._admin is None:
            admin = make_admin(self.settings)
            await admin.start()
            self._admin = admin
        while self._audit:
            async with stage.lock:
                ok = await append_control_audit(stage, self._admin, self._audit[0])
            if not ok:
                return
            self._audit.pop(0)

    def _gauges(self, *, force: bool = False) -> None:
        mono = time.monotonic()
        if not force and mono - self._gauge_at < _GAUGE_EVERY_S:
            return
        self._gauge_at = mono
        for subject, n in self.controls.counts(now_ms()).items():
            self.metrics.quarantined_subjects.labels(subject).set(n)


def build_follower(
    settings: Settings, topics: Any, metrics: Metrics, intake_stage: Any, registry: Any
) -> ControlFollower:
    """The follower an intake worker runs, wired into the stage's intake.

    ``registry``: the reviewers registry in force (None: load ``SLUICE_REVIEWERS_FILE``;
    without one, every control is refused as ``unknown_reviewer``).

    Raises:
        ConfigError: the policy's ``controls:`` section or the registry is invalid.
    """
    from sluice.gate.reviewers import Registry, load_registry
    from sluice.quarantine.config import load_quarantine_config

    if registry is None:
        registry = (
            load_registry(settings.reviewers_file)
            if settings.reviewers_file is not None
            else Registry([])
        )
    controls = Controls(registry, load_quarantine_config(settings.policy_file))
    intake_stage.intake.quarantine = controls
    return ControlFollower(settings, topics.controls, metrics, controls, intake_stage)
