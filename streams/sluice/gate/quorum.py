"""The approval gate's state machine for one partition: pure, no I/O.

Each held event is an :class:`Entry` keyed by event_id. Inputs are HeldEvent records,
Decision records and the clock; outputs are :class:`Effect` lists that the gate agent
turns into Kafka records (outcome, audit, changelog) inside one transaction.

Rules (SPEC §4): a decision counts only if its signature verifies against the
registry with a live key, it is bound to the held event's content hash, the reviewer
holds a required role, is neither the actor nor on_behalf_of, has not voted already,
the decision id is new, and it arrived before expiry. Any counted REJECT rejects; a
quorum of distinct counted APPROVEs releases. An entry is released exactly once: it
moves to ``closed`` in the same step that emits the release, and a closed entry emits
nothing more.
"""

from __future__ import annotations

import base64
import heapq
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson

__all__ = ["Effect", "Entry", "GateState", "Refusal", "RegistryLike"]


class Refusal(StrEnum):
    """Bounded reasons a decision is refused (the ``reason`` metric label)."""

    MALFORMED = "malformed"
    UNKNOWN_REVIEWER = "unknown_reviewer"
    UNKNOWN_KEY = "unknown_key"
    REVOKED_KEY = "revoked_key"
    BAD_SIGNATURE = "bad_signature"
    CONTENT_MISMATCH = "content_mismatch"
    WRONG_ROLE = "wrong_role"
    SELF_APPROVAL = "self_approval"
    REPLAY = "replay"
    DUPLICATE_VOTE = "duplicate_vote"
    EXPIRED = "expired"
    ALREADY_DECIDED = "already_decided"
    MISSING_REASON = "missing_reason"
    UNKNOWN_EVENT = "unknown_event"


class RegistryLike(Protocol):
    """What the gate needs of :class:`sluice.gate.reviewers.Registry`."""

    def check(self, decision: Any) -> str | None: ...

    def reviewer(self, reviewer_id: str) -> Any: ...


@dataclass(slots=True)
class Entry:
    """One event_id's gate state. ``held`` is the HeldEvent as produced (bytes)."""

    event_id: str
    #: awaiting (decisions came first) | open | closed
    status: str
    held: bytes | None = None
    content_hash: str = ""
    actor_id: str = ""
    on_behalf_of: str | None = None
    roles: tuple[str, ...] = ()
    approvals: int = 1
    held_at: int = 0
    expires_at: int = 0
    on_expiry: str = "REJECT"
    escalate_roles: tuple[str, ...] = ()
    escalate_ttl_ms: int = 0
    escalated: bool = False
    #: reviewer_id → decision_id of counted APPROVEs
    approvers: dict[str, str] = field(default_factory=dict)
    #: every decision id seen for this event (counted or refused)
    seen: set[str] = field(default_factory=set)
    #: decisions that arrived before the event: (arrival_ms, decision dict)
    early: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    first_seen: int = 0
    outcome: str | None = None
    closed_at: int = 0

    def to_bytes(self) -> bytes:
        """Changelog value."""
        d = {
            "e": self.event_id,
            "s": self.status,
            "ch": self.content_hash,
            "a": self.actor_id,
            "o": self.on_behalf_of,
            "r": list(self.roles),
            "n": self.approvals,
            "ha": self.held_at,
            "x": self.expires_at,
            "oe": self.on_expiry,
            "er": list(self.escalate_roles),
            "et": self.escalate_ttl_ms,
            "esc": self.escalated,
            "ap": self.approvers,
            "seen": sorted(self.seen),
            "fs": self.first_seen,
            "out": self.outcome,
            "ca": self.closed_at,
            "h": base64.b64encode(self.held).decode() if self.held is not None else None,
            "early": [[t, _dec_json(d)] for t, d in self.early],
        }
        return orjson.dumps(d)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Entry:
        """Inverse of :meth:`to_bytes`."""
        d = orjson.loads(raw)
        return cls(
            event_id=d["e"],
            status=d["s"],
            content_hash=d["ch"],
            actor_id=d["a"],
            on_behalf_of=d["o"],
            roles=tuple(d["r"]),
            approvals=d["n"],
            held_at=d["ha"],
            expires_at=d["x"],
            on_expiry=d["oe"],
            escalate_roles=tuple(d["er"]),
            escalate_ttl_ms=d["et"],
            escalated=d["esc"],
            approvers=dict(d["ap"]),
            seen=set(d["seen"]),
            first_seen=d["fs"],
            outcome=d["out"],
            closed_at=d["ca"],
            held=base64.b64decode(d["h"]) if d["h"] is not None else None,
            early=[(t, _dec_unjson(x)) for t, x in d["early"]],
        )


def _dec_json(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    if isinstance(out.get("signature"), bytes):
        out["signature"] = base64.b64encode(out["signature"]).decode()
    return out


def _dec_unjson(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    if isinstance(out.get("signature"), str):
        out["signature"] = base64.b64decode(out["signature"])
    return out


@dataclass(slots=True)
class Effect:
    """Something the agent must write.

    kind: ``audit`` (fields in ``data``), ``release`` (outcome APPROVED/REJECTED with
    source/reviewers/reason), ``refused`` (reason), ``counted``, ``changelog`` (entry
    changed: write it, or a tombstone when ``entry`` is None), ``republish`` (an
    escalated HeldEvent to write to the approvals topic).
    """

    kind: str
    event_id: str
    data: dict[str, Any] = field(default_factory=dict)
    entry: Entry | None = None


class GateState:
    """All entries of one partition, with an expiry heap.

    Args:
        registry: reviewers and keys.
        early_ttl_ms: how long a decision may wait for its held event.
        closed_ttl_ms: how long a closed marker is kept (replays after that are
            refused as unknown_event rather than already_decided).
    """

    def __init__(
        self,
        registry: RegistryLike,
        *,
        early_ttl_ms: int = 3600_000,
        closed_ttl_ms: int = 7 * 86400_000,
    ) -> None:
        self.registry = registry
        self.entries: dict[str, Entry] = {}
        self._heap: list[tuple[int, str]] = []
        self._early_ttl_ms = early_ttl_ms
        self._closed_ttl_ms = closed_ttl_ms

    # -- restore ----------------------------------------------------------------

    def restore(self, entry: Entry | None, event_id: str) -> None:
        """Load one changelog record (None = tombstone)."""
        if entry is None:
            self.entries.pop(event_id, None)
            return
        self.entries[event_id] = entry
        self._schedule(entry)

    def _schedule(self, e: Entry) -> None:
        if e.status == "open":
            heapq.heappush(self._heap, (e.expires_at, e.event_id))
        elif e.status == "awaiting":
            heapq.heappush(self._heap, (e.first_seen + self._early_ttl_ms, e.event_id))
        elif e.status == "closed":
            heapq.heappush(self._heap, (e.closed_at + self._closed_ttl_ms, e.event_id))

    # -- queries ----------------------------------------------------------------

    def open_entries(self) -> list[Entry]:
        """Entries currently held."""
        return [e for e in self.entries.values() if e.status == "open"]

    # -- inputs -----------------------------------------------------------------

    def on_held(self, held: dict[str, Any], raw: bytes, now_ms: int) -> list[Effect]:
        """A HeldEvent arrived from intake (or an escalation republish)."""
        eid = held["event_id"]
        e = self.entries.get(eid)
        if e is not None and e.status == "closed":
            return []  # redelivery of an already-decided hold: nothing to do
        if e is not None and e.status == "open":
            if held["held_at"] <= e.held_at:
                return []  # duplicate delivery
            # An escalation republished by this gate: take the new roles and expiry.
            e.roles = tuple(held["roles"])
            e.expires_at = held["expires_at"]
            e.held_at = held["held_at"]
            e.held = raw
            self._schedule(e)
            return [Effect("changelog", eid, entry=e)]
        early = e.early if e is not None else []
        seen = e.seen if e is not None else set()
        e = Entry(
            event_id=eid,
            status="open",
            held=raw,
            content_hash=held["content_hash"],
            actor_id=held["actor_id"],
            on_behalf_of=held.get("on_behalf_of"),
            roles=tuple(held["roles"]),
            approvals=max(1, int(held["approvals"])),
            held_at=held["held_at"],
            expires_at=held["expires_at"],
            on_expiry=held["on_expiry"],
            escalate_roles=tuple(held.get("escalate_roles") or ()),
            escalate_ttl_ms=int(held.get("escalate_ttl_ms") or 0),
            seen=seen,
        )
        self.entries[eid] = e
        self._schedule(e)
        effects = [
            Effect(
                "audit",
                eid,
                {
                    "transition": "held",
                    "outcome": "held",
                    "rule": held.get("rule"),
                    "policy_hash": held.get("policy_hash"),
                    "content_hash": e.content_hash,
                    "actor_id": e.actor_id,
                    "kind": held.get("kind"),
                    "run_id": held.get("run_id"),
                    "workflow_id": held.get("workflow_id"),
                    "trace_id": held.get("trace_id"),
                },
            ),
        ]
        for arrival, dec in early:
            effects += self._decide(e, dec, arrival, now_ms)
            if e.status == "closed":
                break
        effects.append(Effect("changelog", eid, entry=e))
        return effects

    def on_decision(self, dec: dict[str, Any], arrival_ms: int, now_ms: int) -> list[Effect]:
        """A Decision arrived (``arrival_ms``: the broker's LogAppendTime)."""
        eid = dec.get("event_id")
        if not isinstance(eid, str):
            return [self._refuse("", dec, Refusal.MALFORMED)]
        e = self.entries.get(eid)
        if e is None or e.status == "awaiting":
            # Before its event: check what can be checked now, keep it for later.
            reason = self.registry.check(dec)
            if reason is not None:
                return [self._refuse(eid, dec, _refusal(reason))]
            if e is None:
                e = Entry(event_id=eid, status="awaiting", first_seen=now_ms)
                self.entries[eid] = e
                self._schedule(e)
            if dec["decision_id"] in e.seen or any(
                d["decision_id"] == dec["decision_id"] for _, d in e.early
            ):
                return [self._refuse(eid, dec, Refusal.REPLAY)]
            e.early.append((arrival_ms, dec))
            return [
                Effect(
                    "audit",
                    eid,
                    {
                        "transition": "decision_early",
                        "reviewer_id": dec.get("reviewer_id"),
                        "decision_id": dec.get("decision_id"),
                    },
                ),
                Effect("changelog", eid, entry=e),
            ]
        effects = self._decide(e, dec, arrival_ms, now_ms)
        effects.append(Effect("changelog", eid, entry=e))
        return effects

    def _decide(self, e: Entry, dec: dict[str, Any], arrival_ms: int, now_ms: int) -> list[Effect]:
        eid = e.event_id
        did = dec.get("decision_id")
        if not isinstance(did, str):
            return [self._refuse(eid, dec, Refusal.MALFORMED)]
        if did in e.seen:
            return [self._refuse(eid, dec, Refusal.REPLAY)]
        e.seen.add(did)
        if e.status == "closed":
            return [self._refuse(eid, dec, Refusal.ALREADY_DECIDED)]
        reason = self.registry.check(dec)
        if reason is not None:
            return [self._refuse(eid, dec, _refusal(reason))]
        if dec.get("content_hash") != e.content_hash:
            return [self._refuse(eid, dec, Refusal.CONTENT_MISMATCH)]
        rid = dec["reviewer_id"]
        reviewer = self.registry.reviewer(rid)
        if reviewer is None:
            return [self._refuse(eid, dec, Refusal.UNKNOWN_REVIEWER)]
        if rid in (e.actor_id, e.on_behalf_of):
            return [self._refuse(eid, dec, Refusal.SELF_APPROVAL)]
        if not set(e.roles) & set(reviewer.roles):
            return [self._refuse(eid, dec, Refusal.WRONG_ROLE)]
        if arrival_ms > e.expires_at:
            return [self._refuse(eid, dec, Refusal.EXPIRED)]
        if rid in e.approvers:
            return [self._refuse(eid, dec, Refusal.DUPLICATE_VOTE)]
        verdict = dec.get("verdict")
        if verdict == "REJECT" and not str(dec.get("reason") or "").strip():
            return [self._refuse(eid, dec, Refusal.MISSING_REASON)]
        counted = Effect(
            "counted", eid, {"verdict": verdict, "reviewer_id": rid, "decision_id": did}
        )
        audit = Effect(
            "audit",
            eid,
            {
                "transition": "decision_counted",
                "outcome": verdict,
                "reviewer_id": rid,
                "decision_id": did,
                "content_hash": e.content_hash,
            },
        )
        if verdict == "REJECT":
            return [
                counted,
                audit,
                *self._close(
                    e,
                    "REJECTED",
                    "REVIEWER",
                    [rid],
                    f"rejected by reviewer: {dec.get('reason')}",
                    now_ms,
                ),
            ]
        e.approvers[rid] = did
        if len(e.approvers) >= e.approvals:
            return [
                counted,
                audit,
                *self._close(e, "APPROVED", "REVIEWER", sorted(e.approvers), None, now_ms),
            ]
        return [counted, audit]

    def _close(
        self,
        e: Entry,
        outcome: str,
        source: str,
        reviewers: list[str],
        reason: str | None,
        now_ms: int,
    ) -> list[Effect]:
        e.status = "closed"
        e.outcome = outcome
        e.closed_at = now_ms
        held = e.held
        e.held = None  # the body is no longer needed: keep the marker small
        self._schedule(e)
        return [
            Effect(
                "release",
                e.event_id,
                {
                    "outcome": outcome,
                    "source": source,
                    "reviewers": reviewers,
                    "reason": reason,
                    "held": held,
                    "held_at": e.held_at,
                    "content_hash": e.content_hash,
                },
            ),
            Effect(
                "audit",
                e.event_id,
                {
                    "transition": outcome.lower(),
                    "outcome": outcome.lower(),
                    "reason_code": source.lower(),
                    "content_hash": e.content_hash,
                },
            ),
        ]

    def _refuse(self, eid: str, dec: dict[str, Any], reason: Refusal) -> Effect:
        return Effect(
            "refused",
            eid,
            {
                "reason": reason.value,
                "reviewer_id": _s(dec.get("reviewer_id")),
                "decision_id": _s(dec.get("decision_id")),
            },
        )

    # -- clock -----------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Effect]:
        """Expire holds, drop unmatched early decisions and old closed markers."""
        effects: list[Effect] = []
        while self._heap and self._heap[0][0] <= now_ms:
            due, eid = heapq.heappop(self._heap)
            e = self.entries.get(eid)
            if e is None:
                continue
            if e.status == "open" and e.expires_at == due:
                effects += self._expire(e, now_ms)
            elif e.status == "awaiting" and e.first_seen + self._early_ttl_ms == due:
                for _, dec in e.early:
                    effects.append(self._refuse(eid, dec, Refusal.UNKNOWN_EVENT))
                del self.entries[eid]
                effects.append(Effect("changelog", eid, entry=None))
            elif e.status == "closed" and e.closed_at + self._closed_ttl_ms == due:
                del self.entries[eid]
                effects.append(Effect("changelog", eid, entry=None))
        return effects

    def _expire(self, e: Entry, now_ms: int) -> list[Effect]:
        if e.on_expiry == "ESCALATE" and not e.escalated and e.escalate_roles:
            e.escalated = True
            e.roles = e.escalate_roles
            e.expires_at = now_ms + max(1, e.escalate_ttl_ms)
            e.held_at = now_ms
            self._schedule(e)
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
                        "roles": list(e.roles),
                        "expires_at": e.expires_at,
                        "held_at": now_ms,
                        "held": e.held,
                    },
                ),
                Effect("changelog", e.event_id, entry=e),
            ]
        outcome = "APPROVED" if e.on_expiry == "APPROVE" else "REJECTED"
        effects = [
            Effect(
                "audit",
                e.event_id,
                {"transition": "expired", "outcome": outcome.lower(), "reason_code": "expiry"},
            )
        ]
        effects += self._close(
            e,
            outcome,
            "EXPIRY",
            sorted(e.approvers),
            "hold expired" if outcome == "REJECTED" else "approved on expiry",
            now_ms,
        )
        effects.append(Effect("changelog", e.event_id, entry=e))
        return effects

    def oldest_open_held_at(self) -> int | None:
        """held_at of the oldest open entry (for the age gauge)."""
        times = [e.held_at for e in self.entries.values() if e.status == "open"]
        return min(times) if times else None


def _refusal(reason: str) -> Refusal:
    try:
        return Refusal(reason)
    except ValueError:
        return Refusal.MALFORMED


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None
