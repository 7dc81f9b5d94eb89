"""Value types of the policy: hold specifications, assessments, check problems, durations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sluice.models.records import PolicyEffect, event_field_names

__all__ = [
    "EVENT_FIELDS",
    "OUTCOMES",
    "Assessment",
    "HoldSpec",
    "Problem",
    "Requirement",
    "combine_holds",
    "parse_duration_ms",
    "pool_requirements",
]

#: Outcomes a rule (or the default) may have: allow, hold, deny.
OUTCOMES: tuple[PolicyEffect, ...] = tuple(PolicyEffect)

#: WorkflowEvent field names (from schemas/WorkflowEvent.avsc); ``event.<other>`` is a
#: check error.
EVENT_FIELDS = frozenset(event_field_names())

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


#: on_expiry actions from the most fail-closed to the least.
_EXPIRY_STRICTNESS = ("REJECT", "ESCALATE", "APPROVE")


def pool_requirements(roles: tuple[str, ...], approvals: int) -> tuple[Requirement, ...]:
    """A ``roles``/``approvals`` pool as per-role requirements, for combining holds.

    One role: ``approvals`` from it. Several roles ("any of"): ``approvals`` from *each*
    of them. That is stricter than the pool, never weaker; write ``approvals`` as a
    map to say exactly what a combined hold should need.
    """
    return tuple(Requirement(role, approvals, 1) for role in roles)


def _merge(groups: list[tuple[Requirement, ...]]) -> tuple[Requirement, ...]:
    """Union of requirement lists; the same (level, role) keeps its largest count."""
    counts: dict[tuple[int, str], int] = {}
    for reqs in groups:
        for r in reqs:
            key = (r.level, r.role)
            counts[key] = max(counts.get(key, 0), r.count)
    return tuple(Requirement(role, count, level) for (level, role), count in sorted(counts.items()))


def _roles_of(reqs: tuple[Requirement, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.role for r in reqs))


def combine_holds(specs: list[HoldSpec]) -> HoldSpec:
    """One hold that needs everything every spec in ``specs`` needs (precedence, README).

    Requirements are united (same role and level: the larger count); the shortest ttl
    applies, or the longest when every spec approves on expiry (an earlier automatic
    approval is weaker, not stricter); on_expiry is the most fail-closed of them (reject,
    then escalate, then approve). When the result escalates, the escalating specs'
    escalation requirements are united too, with the shortest escalation ttl, and votes
    carry over only if every escalating spec says so. A single spec is returned unchanged.
    """
    if len(specs) == 1:
        return specs[0]
    reqs = _merge([s.requirements or pool_requirements(s.roles, s.approvals) for s in specs])
    on_expiry = min((s.on_expiry for s in specs), key=_EXPIRY_STRICTNESS.index)
    esc_roles: tuple[str, ...] = ()
    esc_ttl = 0
    esc_reqs: tuple[Requirement, ...] = ()
    carry = False
    if on_expiry == "ESCALATE":
        escalating = [s for s in specs if s.on_expiry == "ESCALATE"]
        esc_reqs = _merge(
            [
                s.escalate_requirements
                or pool_requirements(s.escalate_roles, s.escalate_approvals or s.approvals)
                for s in escalating
            ]
        )
        esc_roles = _roles_of(esc_reqs)
        esc_ttl = min(s.escalate_ttl_ms for s in escalating)
        carry = all(s.escalate_carry_votes for s in escalating)
    return HoldSpec(
        roles=_roles_of(reqs),
        approvals=sum(r.count for r in reqs),
        # Expiry that rejects or escalates: the sooner the stricter. Expiry that approves:
        # the later the stricter (a short-lived approve rule matching too must not cut
        # another rule's review window and approve it early).
        ttl_ms=(max if on_expiry == "APPROVE" else min)(s.ttl_ms for s in specs),
        on_expiry=on_expiry,
        escalate_roles=esc_roles,
        escalate_ttl_ms=esc_ttl,
        requirements=reqs,
        escalate_approvals=sum(r.count for r in esc_reqs),
        escalate_requirements=esc_reqs,
        escalate_carry_votes=carry,
    )


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
    #: 0..1; see ``docs/policy.md`` ("Risk score").
    risk_score: float
    #: Rules whose condition raised at run time for this event: a deny or hold rule
    #: counts as matching (fail closed), an allow rule as not matching.
    errors: tuple[str, ...] = ()
    #: Every rule that decided, in file order: the matching deny, or all the matching
    #: holds whose requirements were combined (``rule`` is the first of them).
    rules: tuple[str, ...] = ()


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
