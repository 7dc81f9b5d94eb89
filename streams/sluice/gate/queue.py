"""The review queue: what the topics say about held events, as reviewers see it.

Pure: no I/O. The records come from ``workflow.approvals`` (the latest HeldEvent per
event id), ``workflow.decisions`` (votes) and the keys of ``workflow.events.approved`` /
``workflow.events.rejected`` (events already released); :func:`queue_state` folds them
into a :class:`QueueState`, and the views below are what ``sluice review`` (and a
console) show. Like the gate, the queue keeps the first body held under an event id: a
later HeldEvent with other content (refused by the gate as ``duplicate_event_id``)
neither replaces it nor, through its rejected Outcome, removes the hold from the queue.
The gate worker decides whether a vote counts; these are views.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sluice.gate.reviewers import Registry
    from sluice.topics import Topics

__all__ = [
    "QueueState",
    "ReviewError",
    "check_decidable",
    "content_hash",
    "detail_view",
    "entry_view",
    "find_held",
    "is_own_event",
    "queue_entries",
    "queue_state",
    "queue_topics",
    "requirement_progress",
    "risk_summary",
    "vote_view",
]

log = logging.getLogger(__name__)

#: (key, value) of one record as read from a topic.
KeyValue = tuple[bytes | None, bytes | None]


class ReviewError(SluiceError):
    """A review cannot go on (unknown event, already released, expired...)."""


@dataclass
class QueueState:
    """What the topics say about held events (built by :func:`_load_state`)."""

    #: event_id → latest HeldEvent record (decoded).
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: event_id → decoded Decisions, in topic order.
    votes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: event_id → "approved" | "rejected" for events already released.
    released: dict[str, str] = field(default_factory=dict)
    #: Records that could not be decoded, per topic (counted, never shown).
    undecodable: dict[str, int] = field(default_factory=dict)
    #: event_id → HeldEvents with a different body under a held id (ignored, counted).
    conflicts: dict[str, int] = field(default_factory=dict)

    def add_held(self, record: dict[str, Any]) -> None:
        """Keep the first body per event id; a later HeldEvent with the same content
        (the gate's escalation) updates roles and expiry, one with other content is
        ignored (the gate refuses it)."""
        eid = record["event_id"]
        first = self.held.get(eid)
        if first is not None and first["content_hash"] != record["content_hash"]:
            self.conflicts[eid] = self.conflicts.get(eid, 0) + 1
            return
        self.held[eid] = record

    def add_outcome(self, event_id: str, outcome: str, reason_code: str | None = None) -> None:
        """An Outcome was published; a refused duplicate does not release the hold."""
        if reason_code in _NOT_A_RELEASE or event_id not in self.held:
            return
        self.released[event_id] = outcome

    def add_vote(self, decision: dict[str, Any]) -> None:
        """Record one decision as published (valid or not; ``vote_view`` says which)."""
        self.votes.setdefault(decision["event_id"], []).append(decision)


#: Outcome reason codes of HeldEvents the gate refused: the original hold stays open.
_NOT_A_RELEASE = frozenset({"duplicate_event_id", "content_hash_mismatch"})


# -- pure views ---------------------------------------------------------------------


def content_hash(held: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the held event bytes: what a Decision binds to."""
    return hashlib.sha256(held["event"]).hexdigest()


def vote_view(
    decision: Mapping[str, Any], held: Mapping[str, Any], registry: Registry | None
) -> dict[str, Any]:
    """One vote as shown to reviewers; ``valid`` is None without a registry.

    ``refusal`` is the reason the signature check or the content hash binding refuses
    it (the gate may refuse further votes for role, self-approval, replay or expiry).
    """
    refusal: str | None = None
    if decision.get("content_hash") != held.get("content_hash"):
        refusal = "content_hash_mismatch"
    elif registry is not None:
        refusal = registry.check(decision)
    return {
        "decision_id": decision.get("decision_id"),
        "reviewer_id": decision.get("reviewer_id"),
        "verdict": decision.get("verdict"),
        "decided_at": decision.get("decided_at"),
        "key_id": decision.get("key_id"),
        "reason": decision.get("reason") or None,
        "valid": None if registry is None and refusal is None else refusal is None,
        "refusal": refusal,
        # Approve with amendments: the hash of the amended event this vote approves (it
        # counts only with votes for the same hash); None: the held event as it is.
        "amended_hash": decision.get("amended_hash"),
    }


def risk_summary(held: Mapping[str, Any]) -> dict[str, Any]:
    """Score, finding counts per kind and the detectors that fired (no values, ever)."""
    kinds: dict[str, int] = {}
    detectors: list[str] = []
    for f in held.get("findings") or []:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        if f["detector"] not in detectors:
            detectors.append(f["detector"])
    return {"score": held.get("risk_score", 0.0), "kinds": kinds, "detectors": detectors}


def requirement_progress(
    held: Mapping[str, Any], approvers: Iterable[str], registry: Registry | None
) -> dict[str, Any]:
    """Per-role and per-level progress of a hold (``None`` where roles are unknown).

    ``approvers`` are reviewer ids with a valid APPROVE. Without a registry the roles of
    reviewers are unknown, so progress is None. The gate decides; this is a view (it
    does not know at which level each vote was counted).
    """
    from sluice.gate.quorum import match_count
    from sluice.identity import fold_id

    reqs = [
        {"role": r["role"], "count": int(r["count"]), "level": int(r.get("level") or 1)}
        for r in held.get("requirements") or []
    ]
    groups = (
        [(frozenset({r["role"]}), r["count"], r["level"]) for r in reqs]
        if reqs
        else [(frozenset(held["roles"]), max(1, int(held["approvals"])), 1)]
    )
    unique: dict[str, str] = {}
    for rid in approvers:
        unique.setdefault(fold_id(rid), rid)
    roles: dict[str, frozenset[str]] | None = None
    if registry is not None:
        roles = {}
        for rid in unique.values():
            reviewer = registry.reviewer(rid)
            roles[rid] = frozenset(reviewer.roles) if reviewer is not None else frozenset()
    max_level = max(g[2] for g in groups)
    voters = [(r, max_level) for r in roles.values()] if roles is not None else []
    levels = []
    for level in sorted({g[2] for g in groups}):
        upto = [g for g in groups if g[2] <= level]
        complete = None if roles is None else match_count(upto, voters) >= sum(g[1] for g in upto)
        levels.append({"level": level, "complete": complete})
    for r in reqs:
        by = None if roles is None else sorted(i for i, rs in roles.items() if r["role"] in rs)
        r["approved_by"] = by
        r["met"] = None if by is None else len(by) >= r["count"]
    current = next((lv["level"] for lv in levels if lv["complete"] is False), None)
    return {"requirements": reqs, "levels": levels, "current_level": current}


def leading_approvers(votes: Iterable[Mapping[str, Any]]) -> set[str]:
    """Reviewers with a valid APPROVE of the version with the most of them.

    Votes count per final bytes (approve with amendments: a vote over the held event
    does not count for an amended version, nor the reverse), so the progress shown is
    that of the leading version, as the gate counts it.
    """
    by_target: dict[str | None, set[str]] = {}
    for v in votes:
        if v["verdict"] == "APPROVE" and v["valid"] is not False:
            by_target.setdefault(v.get("amended_hash"), set()).add(v["reviewer_id"])
    return max(by_target.values(), key=len, default=set())


def entry_view(
    held: Mapping[str, Any],
    votes: Iterable[Mapping[str, Any]],
    now_ms: int,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """One queue entry (the ``--json`` object of ``review list``)."""
    vote_list = [vote_view(d, held, registry) for d in votes]
    approvers = leading_approvers(vote_list)
    rejecters = {
        v["reviewer_id"] for v in vote_list if v["verdict"] == "REJECT" and v["valid"] is not False
    }
    left_ms = int(held["expires_at"]) - now_ms
    return {
        "event_id": held["event_id"],
        "run_id": held["run_id"],
        "workflow_id": held["workflow_id"],
        "kind": held["kind"],
        "actor_id": held["actor_id"],
        "on_behalf_of": held.get("on_behalf_of"),
        "trace_id": held.get("trace_id"),
        "rule": held["rule"],
        "reason": held.get("reason"),
        "policy_hash": held.get("policy_hash"),
        "risk": risk_summary(held),
        "roles": list(held["roles"]),
        "approvals_required": held["approvals"],
        "approvals": len(approvers),
        "rejections": len(rejecters),
        "votes": vote_list,
        "on_expiry": held.get("on_expiry", "REJECT"),
        "received_at": held.get("received_at"),
        "held_at": held["held_at"],
        "expires_at": held["expires_at"],
        "time_left_s": round(max(left_ms, 0) / 1000.0, 3),
        "expired": left_ms <= 0,
        "content_hash": held["content_hash"],
        **amendment_progress(
            requirement_progress(held, sorted(approvers), registry), vote_list, approvers
        ),
    }


def amendment_progress(
    progress: dict[str, Any], votes: Iterable[Mapping[str, Any]], approvers: set[str]
) -> dict[str, Any]:
    """``progress`` corrected for an amended version in the lead: the gate releases
    amended bytes only with two distinct approvers (separation of duties), whatever
    the hold's quorum, so one approver of an amendment never shows as met."""
    leading = {v.get("amended_hash") for v in votes if v.get("reviewer_id") in approvers} - {None}
    if leading and len(approvers) < 2:
        for r in progress.get("requirements") or []:
            if r.get("met"):
                r["met"] = False
        progress["amendment_needs_second_approver"] = True
    return progress


def queue_entries(
    state: QueueState,
    now_ms: int,
    *,
    role: str | None = None,
    registry: Registry | None = None,
) -> list[dict[str, Any]]:
    """The review queue: held and not released, oldest first, optionally for one role."""
    entries = [
        entry_view(held, state.votes.get(eid, ()), now_ms, registry)
        for eid, held in state.held.items()
        if eid not in state.released and (role is None or role in held["roles"])
    ]
    entries.sort(key=lambda e: (e["held_at"], e["received_at"] or 0, e["event_id"]))
    return entries


# -- from records -------------------------------------------------------------------


def queue_topics(topics: Topics, *, votes: bool = True) -> list[str]:
    """The topics :func:`queue_state` needs (decisions only with ``votes``)."""
    wanted = [topics.approvals, topics.approved, topics.rejected]
    if votes:
        wanted.append(topics.decisions)
    return wanted


def queue_state(
    topics: Topics, records: Mapping[str, Iterable[KeyValue]], *, votes: bool = True
) -> QueueState:
    """Fold the records of :func:`queue_topics` (topic → (key, value) in topic order).

    Tombstones are skipped; undecodable records are counted per topic and skipped.
    """
    from sluice.codec import default_codec
    from sluice.errors import DecodeError

    codec = default_codec()
    state = QueueState()

    def decode(topic: str, name: str, value: bytes | None) -> dict[str, Any] | None:
        if value is None:  # a tombstone
            return None
        try:
            return codec.decode(name, value)
        except DecodeError as exc:
            state.undecodable[topic] = state.undecodable.get(topic, 0) + 1
            log.warning("skipped undecodable record", extra={"topic": topic, "code": str(exc.code)})
            return None

    for _key, value in records[topics.approvals]:
        held = decode(topics.approvals, "HeldEvent", value)
        if held is not None:
            state.add_held(held)
    for topic, outcome in ((topics.approved, "approved"), (topics.rejected, "rejected")):
        for key, value in records[topic]:
            eid = key.decode("utf-8", "replace") if key else None
            if eid is not None and eid not in state.held:
                continue
            rec = decode(topic, "Outcome", value)
            if rec is not None:
                state.add_outcome(eid or rec["event_id"], outcome, rec.get("reason_code"))
            elif eid is not None:
                state.add_outcome(eid, outcome)
    if votes:
        for _key, value in records[topics.decisions]:
            d = decode(topics.decisions, "Decision", value)
            if d is not None:
                state.add_vote(d)
    return state


# -- one event ----------------------------------------------------------------------


def find_held(state: QueueState, event_id: str) -> dict[str, Any]:
    """The HeldEvent of ``event_id``.

    Raises:
        ReviewError: no such hold in the approvals topic.
    """
    held = state.held.get(event_id)
    if held is None:
        raise ReviewError(f"no held event {event_id} in the approvals topic")
    return held


def detail_view(
    state: QueueState, event_id: str, now_ms: int, registry: Registry | None = None
) -> dict[str, Any]:
    """:func:`entry_view` plus status, findings and the decoded event (``review show``).

    Raises:
        ReviewError: no such hold, or its event bytes do not decode.
    """
    from sluice.codec import default_codec
    from sluice.errors import DecodeError

    held = find_held(state, event_id)
    view = entry_view(held, state.votes.get(event_id, ()), now_ms, registry)
    view["status"] = state.released.get(event_id, "held")
    view["findings"] = held.get("findings") or []
    try:
        view["event"] = default_codec().decode("WorkflowEvent", held["event"])
    except DecodeError as exc:
        raise ReviewError(f"held event {event_id} cannot be decoded ({exc.code})") from None
    return view


def check_decidable(state: QueueState, event_id: str, now_ms: int) -> dict[str, Any]:
    """The hold a reviewer may still sign a Decision for.

    Raises:
        ReviewError: no such hold, already released, expired, or its bytes do not match
            its own content hash (a Decision binds to the bytes actually held).
    """
    held = find_held(state, event_id)
    if event_id in state.released:
        raise ReviewError(f"event {event_id} was already {state.released[event_id]}")
    if int(held["expires_at"]) <= now_ms:
        raise ReviewError(f"the hold on {event_id} has expired")
    if content_hash(held) != held["content_hash"]:
        raise ReviewError(f"held event {event_id} does not match its content hash; not signing")
    return held


def is_own_event(held: Mapping[str, Any], reviewer_id: str) -> bool:
    """True when ``reviewer_id`` is the event's actor or principal: the gate refuses
    such a decision (separation of duties)."""
    from sluice.identity import fold_id

    principals = {fold_id(p) for p in (held["actor_id"], held.get("on_behalf_of")) if p}
    return fold_id(reviewer_id) in principals
