"""The intake agent: ``workflow.events`` → approved / rejected / approvals / DLQ, plus audit.

Batch-first on aiokafka (``getmany`` → pure :class:`sluice.pipeline.Intake` → sends →
one transaction): faust's per-event stream machinery costs ~100 µs an event, more than
the whole pipeline (see docs/performance.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from sluice import tracing
from sluice.agents.base import Stage
from sluice.clock import now_ms
from sluice.codec import Codec
from sluice.codec.framed import resolve_batch
from sluice.http import Health
from sluice.metrics import Metrics
from sluice.pipeline import Intake, IntakeResult
from sluice.settings import Settings
from sluice.shadow import hook_for
from sluice.topics import Topics

__all__ = ["IntakeAgent", "intake_agents"]

log = logging.getLogger(__name__)

_VERDICT = {"approved": "approve", "rejected": "reject"}


class IntakeAgent(Stage):
    """Consumes ``workflow.events`` as group ``settings.group_id``."""

    name = "intake"

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        metrics: Metrics,
        health: Health,
        intake: Intake,
        topics: Topics,
        signer: Any = None,
        *,
        input_topic: str | None = None,
        group_id: str | None = None,
    ) -> None:
        source = input_topic or topics.events
        super().__init__(
            settings,
            codec,
            metrics,
            health,
            group_id=group_id or settings.group_id,
            inputs=[source],
            chain_topic=source,
            audit_topic=topics.audit,
            signer=signer,
        )
        self.intake = intake
        self._counts: dict[tuple[str, str], int] = {}
        self._extras: list[IntakeResult] = []
        self._shadow_pending: Any = ()
        #: SLUICE_SHADOW_POLICY_FILE: disagreements into the same transaction (sluice.shadow).
        self.shadow = hook_for(
            getattr(intake, "policy", None), codec, topics.policy_shadow, metrics
        )

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        await resolve_batch(self.codec, batch)  # registry ids, before routing (may retry)
        process = self.begin_batch()
        emit = self.emit
        now = now_ms()
        n = 0
        for tp, records in batch.items():
            topic, part = tp.topic, tp.partition
            for rec in records:
                source = (topic, part, rec.offset)
                r = process(rec.value, rec.key, source, rec.timestamp, now, rec.headers)
                await emit(r, part, source, now)
                n += 1
        return n

    def begin_batch(self) -> Callable[..., IntakeResult]:
        """Reset the per-batch tallies; return the record processor (traced when on)."""
        self._counts = {}
        self._extras = []
        if self.intake.quarantine is not None:
            self.intake.quarantine.hits.clear()  # a retried batch counts once
        shadow = self.shadow
        self._shadow_pending = ()  # falsy for good without a shadow policy
        if shadow is not None:
            shadow.begin()
            self._shadow_pending = shadow.pending
        return tracing.intake_process(self.intake)  # off: self.intake.process

    async def emit(
        self, r: IntakeResult, part: int, source: tuple[str, int, int], now: int
    ) -> None:
        """Send one record's output, its audit record and any shadow disagreement."""
        await self.out.add(r.topic, r.value, key=r.key, headers=r.headers)
        await self.send_audit(part, r.key if r.event_id else None, r.audit)
        shadow = self.shadow
        if self._shadow_pending and shadow is not None:
            for skey, svalue in shadow.take(r, source, now):
                await self.out.add(shadow.topic, svalue, key=skey)
        ck = (r.outcome, r.kind)
        self._counts[ck] = self._counts.get(ck, 0) + 1
        if r.error_code is not None or r.findings or r.cost_usd or r.policy_errors:
            self._extras.append(r)

    def after_commit(self, batch: dict[TopicPartition, list[Any]], n: int, seconds: float) -> None:
        m = self.metrics
        for (outcome, kind), c in self._counts.items():
            m.events.labels(outcome, kind).inc(c)
            verdict = _VERDICT.get(outcome)
            if verdict:
                m.decisions.labels(verdict, "policy").inc(c)
        for r in self._extras:
            if r.error_code is not None:
                m.validation_failures.labels(r.error_code).inc()
                m.dlq.labels(r.error_code).inc()
            for f in r.findings:
                m.findings.labels(f.detector, f.kind.value).inc()
            if r.cost_usd:
                m.cost_usd.labels(r.kind).inc(r.cost_usd)
            for rule in r.policy_errors:
                m.policy_errors.labels(rule).inc()
        q = self.intake.quarantine
        if q is not None and q.hits:
            for (action, subject), c in q.hits.items():
                m.quarantine_events.labels(action, subject).inc(c)
            q.hits.clear()
        per_event = seconds  # every record of the batch waited for the whole transaction
        for _ in range(n):
            m.processing.observe(per_event)
        m.batch_size.observe(n)
        if self.shadow is not None:
            self.shadow.after_commit(m)
        m.last_event_timestamp.labels(self.name).set(time.time())
        if self.consumer is not None:
            lag = 0
            for tp in batch:
                hw = self.consumer.highwater(tp)
                if hw is not None:
                    behind = max(0, hw - (batch[tp][-1].offset + 1))
                    lag += behind
                    m.consumer_lag.labels(self.name, str(tp.partition)).set(behind)
            if lag <= self.settings.ready_max_lag:
                self.health.ready[self.name] = True


def intake_agents(
    settings: Settings,
    codec: Codec,
    metrics: Metrics,
    health: Health,
    intake: Intake,
    policy: Any,
    topics: Topics,
    signer: Any = None,
) -> list[Stage]:
    """The intake stage's agents for ``policy``: one :class:`IntakeAgent`, or with
    velocity rules the re-keying router and the counting intake (docs/velocity.md)."""
    if not getattr(policy, "uses_velocity", False):
        return [IntakeAgent(settings, codec, metrics, health, intake, topics, signer)]
    from sluice.agents.velocity import VelocityIntakeAgent, VelocityRouter

    return [
        VelocityRouter(settings, codec, metrics, health, topics),
        VelocityIntakeAgent(
            settings, codec, metrics, health, intake, topics, policy.velocity, signer
        ),
    ]
