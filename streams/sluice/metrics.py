"""Every ``sluice_*`` metric, declared once; the registry is injected (tests use a fresh one).

Label values come only from bounded sets (enums, detector names, policy rule names,
partition numbers): never an id, an actor name or any event text.
"""

from __future__ import annotations

import platform
from typing import NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

import sluice

__all__ = ["Metrics", "create"]

#: Intake per-event latency buckets (seconds): measured ~0.05-20 ms per batch.
_PROCESSING_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Hold → release: human review time, seconds to days.
_WAIT_BUCKETS = (
    0.05,
    0.25,
    1,
    5,
    30,
    60,
    300,
    900,
    1800,
    3600,
    4 * 3600,
    12 * 3600,
    86400,
    3 * 86400,
)


class Metrics(NamedTuple):
    """The metric objects; build with :func:`create`."""

    events: Counter
    findings: Counter
    validation_failures: Counter
    dlq: Counter
    decisions: Counter
    decisions_refused: Counter
    held_events: Gauge
    oldest_held_age: Gauge
    processing: Histogram
    decision_wait: Histogram
    batch_size: Histogram
    cost_usd: Counter
    consumer_lag: Gauge
    rebalances: Counter
    audit_records: Counter
    transactions_aborted: Counter
    policy_errors: Counter
    policy_info: Info
    build_info: Info
    last_event_timestamp: Gauge
    held_refused: Counter
    registry_reloads: Counter
    notifications: Counter
    quarantined_subjects: Gauge
    quarantine_events: Counter
    controls_applied: Counter
    shadow_disagreements: Counter
    shadow_events: Counter


def create(registry: CollectorRegistry, prefix: str = "sluice") -> Metrics:
    """Declare every metric in ``registry``."""
    # *_created series double the scrape size and no alert uses them.
    disable_created_metrics()
    p = prefix
    m = Metrics(
        events=Counter(
            f"{p}_events",
            "Events by outcome (approved, rejected, held, invalid) and step kind.",
            ["outcome", "kind"],
            registry=registry,
        ),
        findings=Counter(
            f"{p}_findings",
            "Sanitize findings by detector and kind.",
            ["detector", "kind"],
            registry=registry,
        ),
        validation_failures=Counter(
            f"{p}_validation_failures",
            "Records refused by decode/validate, by reason.",
            ["reason"],
            registry=registry,
        ),
        dlq=Counter(
            f"{p}_dlq_writes",
            "DeadLetter records written, by reason.",
            ["reason"],
            registry=registry,
        ),
        decisions=Counter(
            f"{p}_decisions",
            "Final decisions by verdict (approve, reject) and source (policy, reviewer, expiry).",
            ["verdict", "source"],
            registry=registry,
        ),
        decisions_refused=Counter(
            f"{p}_decisions_refused",
            "Reviewer decisions refused, by reason.",
            ["reason"],
            registry=registry,
        ),
        held_events=Gauge(
            f"{p}_held_events",
            "Events currently held for review on this worker, by the role first asked to"
            " decide (a registry role, else other); sum without(role) for the total.",
            ["role"],
            registry=registry,
        ),
        oldest_held_age=Gauge(
            f"{p}_oldest_held_age_seconds",
            "Age of the oldest held event on this worker.",
            registry=registry,
        ),
        processing=Histogram(
            f"{p}_processing_seconds",
            "Intake time per event, consume to outputs acknowledged.",
            buckets=_PROCESSING_BUCKETS,
            registry=registry,
        ),
        decision_wait=Histogram(
            f"{p}_decision_wait_seconds",
            "Time from hold to release (approve, reject or expiry).",
            buckets=_WAIT_BUCKETS,
            registry=registry,
        ),
        batch_size=Histogram(
            f"{p}_batch_size_records",
            "Records per intake batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=registry,
        ),
        cost_usd=Counter(
            f"{p}_cost_usd",
            "Sum of cost_usd of accepted events, by step kind.",
            ["kind"],
            registry=registry,
        ),
        consumer_lag=Gauge(
            f"{p}_consumer_lag_records",
            "Records behind the end of the input partition.",
            ["stage", "partition"],
            registry=registry,
        ),
        rebalances=Counter(
            f"{p}_rebalances", "Partition assignments received.", ["stage"], registry=registry
        ),
        audit_records=Counter(
            f"{p}_audit_records", "Audit records written, by stage.", ["stage"], registry=registry
        ),
        transactions_aborted=Counter(
            f"{p}_transactions_aborted",
            "Kafka transactions aborted (work redone).",
            ["stage"],
            registry=registry,
        ),
        policy_errors=Counter(
            f"{p}_policy_errors",
            "Policy conditions that failed at run time (deny/hold rules then match: fail closed).",
            ["rule"],
            registry=registry,
        ),
        policy_info=Info(f"{p}_policy", "The loaded policy.", registry=registry),
        build_info=Info(f"{p}_build", "sluice build.", registry=registry),
        last_event_timestamp=Gauge(
            f"{p}_last_event_timestamp_seconds",
            "Unix time of the last event processed.",
            ["stage"],
            registry=registry,
        ),
        held_refused=Counter(
            f"{p}_held_refused",
            "HeldEvents the gate refused to hold (sent to the rejected topic), by reason.",
            ["reason"],
            registry=registry,
        ),
        registry_reloads=Counter(
            f"{p}_registry_reloads",
            "Reviewers registry reloads by result (ok: swapped in; refused: old one kept).",
            ["result"],
            registry=registry,
        ),
        notifications=Counter(
            f"{p}_notifications",
            "Notification deliveries by sink (configured name) and result: sent, failed "
            "(one attempt), dead_letter (gave up), duplicate (already sent before).",
            ["sink", "result"],
            registry=registry,
        ),
        quarantined_subjects=Gauge(
            f"{p}_quarantined_subjects",
            "Subjects under a quarantine in force on this worker, by subject type.",
            ["subject"],
            registry=registry,
        ),
        quarantine_events=Counter(
            f"{p}_quarantine_events",
            "New events a quarantine held or rejected at intake, by action and subject type.",
            ["action", "subject"],
            registry=registry,
        ),
        controls_applied=Counter(
            f"{p}_controls",
            "Control records read from workflow.controls, by result (added, lift_counted, "
            "lifted, pending, refused) and refusal reason (none when applied).",
            ["result", "reason"],
            registry=registry,
        ),
        shadow_disagreements=Counter(
            f"{p}_shadow_disagreements",
            "Events the shadow (candidate) policy would have decided differently, by the live"
            " and the candidate outcome (allow, hold, deny; equal: another rule or hold).",
            ["live", "candidate"],
            registry=registry,
        ),
        shadow_events=Counter(
            f"{p}_shadow_events",
            "Events assessed by both the live and the shadow policy.",
            registry=registry,
        ),
    )
    m.build_info.info({"version": sluice.__version__, "python": platform.python_version()})
    # Known label sets start at 0, so rate() sees the first increment of each series.
    from sluice.models.event import StepKind

    for kind in StepKind:
        for outcome in ("approved", "rejected", "held"):
            m.events.labels(outcome, kind.value)
    m.events.labels("invalid", "unknown")
    for verdict in ("approve", "reject"):
        for source in ("policy", "reviewer", "expiry"):
            m.decisions.labels(verdict, source)
    for result in ("ok", "refused"):
        m.registry_reloads.labels(result)
    for subject in ("actor", "workflow", "run"):
        m.quarantined_subjects.labels(subject)
        for action in ("held", "rejected"):
            m.quarantine_events.labels(action, subject)
    return m
