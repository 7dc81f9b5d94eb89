"""Value types of the policy: hold specifications, assessments, check problems, durations."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "EVENT_FIELDS",
    "OUTCOMES",
    "Assessment",
    "HoldSpec",
    "Problem",
    "Requirement",
    "parse_duration_ms",
]

#: Outcomes a rule (or the default) may have.
OUTCOMES = ("allow", "hold", "deny")

#: WorkflowEvent field names (schemas/WorkflowEvent.avsc); ``event.<other>`` is a check error.
EVENT_FIELDS = frozenset(
    {
        "event_id",
        "workflow_id",
        "run_id",
        "step",
        "kind",
        "actor",
        "action",
        "data_classification",
        "occurred_at",
        "on_behalf_of",
        "resource",
        "content",
        "arguments",
        "model",
        "confidence",
        "cost_usd",
        "trace_id",
        "attributes",
    }
)

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")


def parse_duration_ms(value: object) -> int:
    """Milliseconds in ``value``: ``90s``, ``30m``, ``1h``, ``4h``, ``1d``, ``1h30m`` or an int
    number of seconds.

    Raises:
        ValueError: not a positive duration in that form.
    """
    if isinstance(value, bool):
        raise ValueError("a duration must be like 90s, 30m, 1h, 1d")
    if isinstance(value, int):
        ms = value * 1000
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"bad duration {value!r}: use forms like 90s, 30m, 1h, 1d")
        ms = sum(int(n) * _UNIT_MS[u] for n, u in parts)
    else:
        raise ValueError("a duration must be like 90s, 30m, 1h, 1d")
    if ms <= 0:
        raise ValueError("a duration must be positive")
    return ms


@dataclass(frozen=True, slots=True)
class Requirement:
    """``count`` distinct approvals from reviewers holding ``role``, at ``level``.

    Votes for level N count only once every requirement of every lower level is met.
    """

    role: str
    count: int
    level: int = 1


@dataclass(frozen=True, slots=True)
class HoldSpec:
    """Who may release a held event, how many approvals, for how long, and what expiry means."""

    roles: tuple[str, ...]
    approvals: int
    ttl_ms: int
    #: ``REJECT`` (the default: fail closed), ``APPROVE`` or ``ESCALATE``.
    on_expiry: str = "REJECT"
    #: With ``ESCALATE``: the roles that get the event next, and their time to decide.
    escalate_roles: tuple[str, ...] = ()
    escalate_ttl_ms: int = 0
    #: Per-role requirements (``approvals: {data-steward: 1, security: 1}``, or levels).
    #: When non-empty, every requirement must be met by distinct reviewers; ``roles``
    #: is then the union of their roles and ``approvals`` the sum of their counts.
    requirements: tuple[Requirement, ...] = ()
    #: Approvals needed in the escalation phase (0: the same as ``approvals``).
    escalate_approvals: int = 0
    escalate_requirements: tuple[Requirement, ...] = ()
    #: Whether votes counted before an escalation still count after it (default: no).
    escalate_carry_votes: bool = False


@dataclass(frozen=True, slots=True)
class Assessment:
    """The policy's verdict on one event."""

    #: ``allow``, ``hold`` or ``deny``.
    outcome: str
    #: Name of the matching rule, or ``default``.
    rule: str
    reason: str | None
    #: Set iff ``outcome == "hold"``.
    hold: HoldSpec | None
    #: Hex SHA-256 of the policy file's bytes.
    policy_hash: str
    #: 0..1; see ``sluice/policy/README.md`` ("Risk score").
    risk_score: float
    #: Rules whose condition raised at run time for this event (treated as not matching).
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of :func:`sluice.policy.check_policy`."""

    message: str
    #: The rule's name (or ``rules[i]`` when unnamed), ``default``, or None for the file.
    rule: str | None = None
    #: ``error`` (the policy will not load) or ``warning`` (it loads; look at it).
    severity: str = "error"

    def __str__(self) -> str:
        where = "policy" if self.rule is None else f"policy rule '{self.rule}'"
        if self.rule == "default":
            where = "policy default"
        return f"{where}: {self.message}"
