"""Live vs candidate assessment of one event: is it a disagreement, and the record that says so.

Pure. A disagreement is the first of these that differs between the two assessments:

- ``outcome``: allow / hold / deny;
- ``rule``: the rules that decided (``Assessment.rules``: the matching deny, or every
  matching hold), so a different reviewer set is seen even when both hold;
- ``requirements``: both hold under the same rules but with another hold spec (roles,
  approvals, ttl, expiry), as when the candidate edits a rule in place.

The record (:func:`disagreement_record`, Avro ``ShadowDisagreement``) carries the event
id, its kind, both outcomes, rules and policy hashes, the candidate's run-time errors,
the input coordinates and the time: never a field of the event's content, so no secret
the event carries can reach ``workflow.policy.shadow``.

:func:`effect` names what a change would do to routing, for the counts both the worker
and ``sluice policy diff`` report (held / released / rejected differently).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.policy.model import Assessment

__all__ = [
    "EFFECTS",
    "OUTCOMES",
    "Change",
    "disagreement",
    "disagreement_record",
    "effect",
    "ids_of",
]

#: The policy outcomes (the values of the metric's ``live`` and ``candidate`` labels).
OUTCOMES = ("allow", "hold", "deny")

#: (event_id, kind, live, candidate, change): one disagreement before it is stamped.
Change = tuple[str, str, Assessment, Assessment, str]

#: What a disagreement would change, in the order tables list them.
EFFECTS = (
    "newly_held",  # live allowed or denied it; the candidate would hold it
    "released",  # live held it; the candidate would allow it (no review)
    "newly_denied",  # live allowed or held it; the candidate would deny it
    "newly_allowed",  # live denied it; the candidate would allow it
    "same_outcome",  # same outcome, other rules or hold requirements
)


def disagreement(live: Assessment, candidate: Assessment) -> str | None:
    """``outcome`` | ``rule`` | ``requirements`` when the two differ, else None."""
    if live.outcome != candidate.outcome:
        return "outcome"
    if (live.rules or (live.rule,)) != (candidate.rules or (candidate.rule,)):
        return "rule"
    if live.hold != candidate.hold:
        return "requirements"
    return None


def effect(live_outcome: str, candidate_outcome: str) -> str:
    """What the candidate's outcome would change (one of :data:`EFFECTS`)."""
    if live_outcome == candidate_outcome:
        return "same_outcome"
    if candidate_outcome == "hold":
        return "newly_held"
    if candidate_outcome == "deny":
        return "newly_denied"
    if live_outcome == "hold":
        return "released"
    return "newly_allowed"


def _label(outcome: Any) -> str:
    """An outcome as a bounded label value (anything unexpected: ``other``)."""
    return outcome if outcome in OUTCOMES else "other"


def disagreement_record(
    event_id: str,
    kind: str,
    live: Assessment,
    candidate: Assessment,
    change: str,
    source: str,
    at: int,
) -> dict[str, Any]:
    """The ``ShadowDisagreement`` record (Avro dict, fields in schema order).

    Only identifiers, outcomes, rule names and policy hashes: nothing read from the
    event's content. Rule names come from the policy files, not from events.
    """
    return {
        "event_id": event_id,
        "kind": kind,
        "change": change,
        "live_outcome": _label(live.outcome),
        "live_rule": live.rule,
        "live_rules": list(live.rules or (live.rule,)),
        "live_policy_hash": live.policy_hash,
        "candidate_outcome": _label(candidate.outcome),
        "candidate_rule": candidate.rule,
        "candidate_rules": list(candidate.rules or (candidate.rule,)),
        "candidate_policy_hash": candidate.policy_hash,
        "candidate_errors": list(candidate.errors),
        "source": source,
        "at": at,
    }


def ids_of(event: Mapping[str, Any]) -> tuple[str, str]:
    """(event_id, kind) of an assessed (validated) event, as plain strings."""
    return str(event.get("event_id", "")), str(event.get("kind", ""))
