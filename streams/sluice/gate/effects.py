"""What the gate's state machine asks its agent to write: :class:`Effect` and builders.

:class:`sluice.gate.quorum.GateState` decides; the builders here only shape the
records (audit fields, release and republish payloads) so that every transition
writes the same fields wherever in the state machine it happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.gate.entry import Amendment, Entry, Vote
from sluice.gate.requirements import Group
from sluice.gate.votes import HeldRefusal, Refusal

__all__ = [
    "Effect",
    "closed",
    "counted",
    "decision_early",
    "escalated",
    "held",
    "held_refused",
    "held_resent",
    "refused",
    "vote_withdrawn",
]


@dataclass(slots=True)
class Effect:
    """Something the agent must write.

    kind: ``audit`` (fields in ``data``), ``release`` (outcome APPROVED/REJECTED with
    source/reviewers/reason), ``refused`` (reason), ``counted``, ``changelog`` (entry
    changed: write it, or a tombstone when ``entry`` is None), ``republish`` (an
    escalated HeldEvent to write to the approvals topic, for reviewers), ``held_refused``
    (a HeldEvent the gate will not hold: ``reason`` and the refused ``held`` bytes go to
    the rejected topic).
    """

    kind: str
    event_id: str
    data: dict[str, Any] = field(default_factory=dict)
    entry: Entry | None = None


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def held(e: Entry, record: dict[str, Any]) -> Effect:
    """The audit of a hold that opened from the HeldEvent ``record``."""
    return Effect(
        "audit",
        e.event_id,
        {
            "transition": "held",
            "outcome": "held",
            "rule": record.get("rule"),
            "policy_hash": record.get("policy_hash"),
            "content_hash": e.content_hash,
            "actor_id": e.actor_id,
            "kind": record.get("kind"),
            "run_id": record.get("run_id"),
            "workflow_id": record.get("workflow_id"),
            "trace_id": record.get("trace_id"),
        },
    )


def held_resent(e: Entry, body_hash: str) -> Effect:
    """The audit of a same-body HeldEvent for an open or closed entry (changes nothing)."""
    return Effect(
        "audit",
        e.event_id,
        {
            "transition": "held_resent",
            "outcome": "held" if e.status == "open" else (e.outcome or "").lower(),
            "reason_code": "same_content" if e.status == "open" else "already_decided",
            "content_hash": body_hash,
        },
    )


def held_refused(eid: str, record: dict[str, Any], raw: bytes, reason: HeldRefusal) -> list[Effect]:
    """A HeldEvent the gate will not hold: audited, and its bytes sent to be rejected."""
    return [
        Effect(
            "audit",
            eid,
            {
                "transition": "held_refused",
                "outcome": "rejected",
                "reason_code": reason.value,
                "content_hash": _s(record.get("content_hash")),
                "actor_id": _s(record.get("actor_id")),
                "rule": _s(record.get("rule")),
            },
        ),
        Effect("held_refused", eid, {"reason": reason.value, "held": raw}),
    ]


def refused(eid: str, dec: dict[str, Any], reason: Refusal) -> Effect:
    """A decision that does not count (ids only when they are strings)."""
    return Effect(
        "refused",
        eid,
        {
            "reason": reason.value,
            "reviewer_id": _s(dec.get("reviewer_id")),
            "decision_id": _s(dec.get("decision_id")),
        },
    )


def decision_early(eid: str, dec: dict[str, Any]) -> Effect:
    """The audit of a decision kept until its held event arrives."""
    return Effect(
        "audit",
        eid,
        {
            "transition": "decision_early",
            "reviewer_id": dec.get("reviewer_id"),
            "decision_id": dec.get("decision_id"),
        },
    )


def _amended(e: Entry, target: str, amendment: Amendment | None) -> dict[str, Any]:
    """Audit fields of an amended target: its hash, the original's, the fields changed."""
    if not target or amendment is None:
        return {"content_hash": e.content_hash}
    return {
        "content_hash": target,
        "original_content_hash": e.content_hash,
        "amended_fields": list(amendment[1]),
    }


def counted(
    e: Entry,
    verdict: str,
    reviewer_id: str,
    decision_id: str,
    target: str = "",
    amendment: Amendment | None = None,
) -> list[Effect]:
    """A counted vote: the ``counted`` effect and its audit (an APPROVE of an amendment:
    ``content_hash`` is the amended hash, beside the original's and the fields changed)."""
    return [
        Effect(
            "counted",
            e.event_id,
            {"verdict": verdict, "reviewer_id": reviewer_id, "decision_id": decision_id},
        ),
        Effect(
            "audit",
            e.event_id,
            {
                "transition": "decision_counted",
                "outcome": verdict,
                "reviewer_id": reviewer_id,
                "decision_id": decision_id,
                **_amended(e, target, amendment),
            },
        ),
    ]


def vote_withdrawn(e: Entry, v: Vote, reason: str) -> Effect:
    """The audit of a counted vote that no longer counts (``reason_code``: why)."""
    return Effect(
        "audit",
        e.event_id,
        {
            "transition": "vote_withdrawn",
            "outcome": "held",
            "reason_code": reason,
            "reviewer_id": v.reviewer_id,
            "decision_id": v.decision_id,
            "content_hash": v.target or e.content_hash,
        },
    )


def closed(
    e: Entry,
    body: bytes | None,
    source: str,
    reviewers: list[str],
    reason: str | None,
    decisions: list[str],
    headers: Sequence[tuple[str, bytes]] = (),
    target: str = "",
    amendment: Amendment | None = None,
) -> list[Effect]:
    """The release of a closed entry (outcome ``e.outcome``, held bytes ``body``, the
    Kafka headers its HeldEvent carried ``headers``) and its audit; approved with the
    amendment ``amendment`` (hash ``target``): the release carries the amended bytes,
    both hashes and the changed fields."""
    outcome = e.outcome or ""
    amended: dict[str, Any] = {}
    if target and amendment is not None:
        amended = {
            "amended": amendment[0],
            "amended_findings": amendment[2],
            **_amended(e, target, amendment),
        }
    return [
        Effect(
            "release",
            e.event_id,
            {
                "outcome": outcome,
                "source": source,
                "reviewers": reviewers,
                "reason": reason,
                "held": body,
                "held_at": e.held_at,
                "content_hash": e.content_hash,
                "decisions": decisions,
                "headers": list(headers),
                **amended,
            },
        ),
        Effect(
            "audit",
            e.event_id,
            {
                "transition": outcome.lower(),
                "outcome": outcome.lower(),
                "reason_code": source.lower(),
                **_amended(e, target, amendment),
            },
        ),
    ]


def escalated(e: Entry, groups: Sequence[Group], now_ms: int) -> list[Effect]:
    """The audit of an escalation and the HeldEvent fields to republish for reviewers."""
    return [
        Effect(
            "audit",
            e.event_id,
            {"transition": "escalated", "outcome": "held", "reason_code": "expiry"},
        ),
        Effect(
            "republish",
            e.event_id,
            {
                "roles": sorted({r for g in groups for r in g[0]}),
                "approvals": sum(g[1] for g in groups),
                "requirements": [
                    {"role": next(iter(g[0])), "count": g[1], "level": g[2]}
                    for g in groups
                    if e.escalate_requirements
                ],
                "expires_at": e.expires_at,
                "held_at": now_ms,
                "held": e.held,
                "headers": list(e.headers),
            },
        ),
    ]
