"""Topic names (the only place they are spelled) and their settings.

:data:`TOPIC_CONFIGS` is the one table of topic settings: ``sluice topics create``
applies it, the Strimzi KafkaTopic manifests (``deploy/k8s/strimzi/kafka-topics.yaml``)
must carry the same values (a test compares them), and a worker warns at start when an
existing topic differs (:func:`config_drift`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEPLOYMENT_KEYS",
    "TIMESTAMP_TYPE",
    "TOPIC_CONFIGS",
    "ConfigDrift",
    "Topics",
    "config_drift",
]

#: Default names from SPEC §2.
EVENTS = "workflow.events"
APPROVALS = "workflow.approvals"
DECISIONS = "workflow.decisions"
APPROVED = "workflow.events.approved"
REJECTED = "workflow.events.rejected"
DLQ = "workflow.dlq"
AUDIT = "workflow.audit"
GATE_STATE = "workflow.gate.state"
#: The notifier's delivered-notification keys (sluice.notify): latest per key.
NOTIFY_STATE = "workflow.notify.state"
#: Signed operator controls (quarantine add/lift, sluice.quarantine): compacted, kept.
CONTROLS = "workflow.controls"
#: Events re-keyed by actor for velocity rules (internal: only sluice workers write it).
VELOCITY_REPARTITION = "workflow.velocity.repartition"
#: The velocity window counts' changelog: latest state per actor, co-partitioned with
#: the repartition topic.
VELOCITY_CHANGELOG = "workflow.velocity.changelog"
#: Live vs shadow (candidate) policy disagreements (SLUICE_SHADOW_POLICY_FILE).
POLICY_SHADOW = "workflow.policy.shadow"

_DAY_MS = 24 * 3600 * 1000

#: Per-topic settings applied by ``sluice topics create`` (keyed by default name).
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    EVENTS: {"retention.ms": str(7 * _DAY_MS)},
    APPROVALS: {"retention.ms": str(30 * _DAY_MS)},
    # The broker stamps arrival time: "arrived before expiry" cannot be backdated.
    DECISIONS: {"retention.ms": str(30 * _DAY_MS), "message.timestamp.type": "LogAppendTime"},
    APPROVED: {"retention.ms": str(7 * _DAY_MS)},
    REJECTED: {"retention.ms": str(7 * _DAY_MS)},
    DLQ: {"retention.ms": str(90 * _DAY_MS)},
    # The audit trail never expires by time or size.
    AUDIT: {"retention.ms": "-1", "retention.bytes": "-1"},
    # The gate's held-events table changelog: latest state per event_id.
    GATE_STATE: {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "60000",
        "segment.ms": str(3600 * 1000),
    },
    # One record per (event, transition, sink) delivered: compacted, and deleted after
    # 30 days (older transitions are past any replay the notifier does).
    NOTIFY_STATE: {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(30 * _DAY_MS),
        "segment.ms": str(3600 * 1000),
    },
    # One record per control action (distinct keys): compaction keeps every one of them.
    CONTROLS: {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)},
    # Only read within seconds of being written (a day covers any outage to catch up).
    VELOCITY_REPARTITION: {"retention.ms": str(_DAY_MS)},
    VELOCITY_CHANGELOG: {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "60000",
        "segment.ms": str(3600 * 1000),
    },
    # Shadow-policy disagreements: evidence for a policy change, kept 30 days.
    POLICY_SHADOW: {"retention.ms": str(30 * _DAY_MS)},
}


#: The topic setting that makes the broker stamp each record's arrival time.
TIMESTAMP_TYPE = "message.timestamp.type"

#: Settings a deployment may add beyond the table (they depend on its replica count).
DEPLOYMENT_KEYS = frozenset({"min.insync.replicas"})


@dataclass(frozen=True, slots=True)
class ConfigDrift:
    """One topic setting that differs from :data:`TOPIC_CONFIGS`."""

    #: Topic name (with prefix).
    topic: str
    #: Setting name, e.g. ``retention.ms``.
    key: str
    #: The table's value.
    expected: str
    #: The topic's value (None when the broker did not report it).
    actual: str | None


def config_drift(
    expected: Mapping[str, Mapping[str, str]], actual: Mapping[str, Mapping[str, str]]
) -> list[ConfigDrift]:
    """Every table setting whose value differs on an existing topic.

    Args:
        expected: topic → settings (:meth:`Topics.configs`).
        actual: topic → settings as described by the broker; topics missing here are
            not compared (they were not described).
    """
    out: list[ConfigDrift] = []
    for topic, want in expected.items():
        got = actual.get(topic)
        if got is None:
            continue
        for key, value in want.items():
            if got.get(key) != value:
                out.append(ConfigDrift(topic, key, value, got.get(key)))
    return out


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names one deployment uses: SPEC defaults behind an optional prefix."""

    events: str = EVENTS
    approvals: str = APPROVALS
    decisions: str = DECISIONS
    approved: str = APPROVED
    rejected: str = REJECTED
    dlq: str = DLQ
    audit: str = AUDIT
    gate_state: str = GATE_STATE
    notify_state: str = NOTIFY_STATE
    controls: str = CONTROLS
    velocity_repartition: str = VELOCITY_REPARTITION
    velocity_changelog: str = VELOCITY_CHANGELOG
    policy_shadow: str = POLICY_SHADOW

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        """All names with ``prefix`` in front (``""`` gives the SPEC names)."""
        return cls(*(prefix + name for name in cls().all()))

    def all(self) -> tuple[str, ...]:
        """Every topic, in declaration order."""
        return (
            self.events,
            self.approvals,
            self.decisions,
            self.approved,
            self.rejected,
            self.dlq,
            self.audit,
            self.gate_state,
            self.notify_state,
            self.controls,
            self.velocity_repartition,
            self.velocity_changelog,
            self.policy_shadow,
        )

    def configs(self) -> dict[str, dict[str, str]]:
        """Topic name → creation settings."""
        return dict(zip(self.all(), TOPIC_CONFIGS.values(), strict=True))
