"""The intake agent: ``workflow.events`` → approved / rejected / approvals / DLQ, plus audit.

Batch-first on aiokafka (``getmany`` → pure :class:`sluice.pipeline.Intake` → sends →
one transaction): faust's per-event stream machinery costs ~100 µs an event, more than
the whole pipeline (see docs/performance.md).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka import TopicPartition

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

__all__ = ["IntakeAgent"]

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
    ) -> None:
        super().__init__(
            settings,
            codec,
            metrics,
            health,
            group_id=settings.group_id,
            inputs=[topics.events],
            chain_topic=topics.events,
            audit_topic=topics.audit,
            signer=signer,
        )
        self.intake = intake
        self._counts: dict[tuple[str, str], int] = {}
        self._extras: list[IntakeResult] = []
        #: SLUICE_SHADOW_POLICY_FILE: disagreements into the same transaction (sluice.shadow).
        self.shadow = hook_for(
            getattr(intake, "policy", None), codec, topics.policy_shadow, metrics
        )

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        await resolve_batch(self.codec, batch)  # registry ids, before routing (may retry)
        process = self.intake.process
        send = self.out.add
        send_audit = self.send_audit
        now = now_ms()
        n = 0
        counts = self._counts = {}
        extras = self._extras = []
        shadow = self.shadow
        pending: Any = ()  # falsy for good without a shadow policy: one test a record
        if shadow is not None:
            shadow.begin()
            pending = shadow.pending
        for tp, records in batch.items():
            topic, part = tp.topic, tp.partition
            for rec in records:
                r = process(
                    rec.value, rec.key, (topic, part, rec.offset), rec.timestamp, now, rec.headers
                )
                await send(r.topic, r.value, key=r.key, headers=r.headers)
                await send_audit(part, r.key if r.event_id else None, r.audit)
                if pending and shadow is not None:
                    for skey, svalue in shadow.take(r, (topic, part, rec.offset), now):
                        await send(shadow.topic, svalue, key=skey)
                ck = (r.outcome, r.kind)
                counts[ck] = counts.get(ck, 0) + 1
                if r.error_code is not None or r.findings or r.cost_usd or r.policy_errors:
                    extras.append(r)
                n += 1
        return n

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
