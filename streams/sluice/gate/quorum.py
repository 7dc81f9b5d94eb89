"""The approval gate's state machine for one partition: pure, no I/O.

Each held event is an :class:`Entry` keyed by event_id. Inputs are HeldEvent records,
Decision records, registry reloads and the clock; outputs are :class:`Effect` lists
that the gate agent turns into Kafka records (outcome, audit, changelog) inside one
transaction.

Rules (SPEC §4): a decision counts only if its signature verifies against the
registry with a live key, it is bound to the held event's content hash, it is dated
after the hold (phase) began and not after its arrival (both within ``skew_ms``), the
reviewer holds a role some requirement of the current phase asks for, is neither the
actor nor on_behalf_of (compared by :func:`sluice.identity.skeleton_id`: folded
ids and their look-alikes), has not voted
already (folded id), the decision id is new, and it arrived before expiry. Any counted
REJECT rejects. An entry is released exactly once: it moves to ``closed`` in the same
step that emits the release, and a closed entry emits nothing more.

Quorum: the current phase's requirements are groups ``(roles, count, level)``; with
no per-role requirements the phase is one group ``(roles, approvals, 1)``. APPROVE
votes release when a matching assigns *distinct* reviewers to every slot (a reviewer
holding two required roles fills one slot only). Levels: a vote counts at the lowest
level not yet complete when it is counted, and fills only slots of that level or
below; an APPROVE from a reviewer whose required roles are all at higher levels is
refused as ``level_pending`` (the reviewer signs again once the lower levels are
complete). A REJECT from any reviewer with a required role rejects at any level.
Escalation starts a new phase (``escalate_requirements``, or ``escalate_approvals``
over ``escalate_roles``, 0 meaning the same count) whose votes start from none, unless
``escalate_carry_votes`` (carried votes then count at level 1 of the new phase).
Before a release, counted votes whose key is no longer live in the registry (revoked,
removed, or another public key now registered under the same key id) are
withdrawn (audited ``vote_withdrawn``); the release happens only if the quorum still
holds; votes counted at a level above the one a withdrawal reopened are withdrawn too
(``level_reopened``). :meth:`GateState.revalidate` does the same for every open entry
after a registry reload.

Content immutability (the invariant the property test checks): an entry's ``held``
bytes and ``content_hash`` are written once, when it opens, and only if the held
event body hashes to that content hash; every counted vote carries that content hash.
So every release's bytes hash to the content hash that every counted vote signed. A
HeldEvent for an event_id that is open or closed never changes the entry: the same
body is an audited no-op (``held_resent``; expiry is never extended), a different
body is refused as ``duplicate_event_id`` (:class:`Effect` ``held_refused``: the new
body goes to the rejected topic, the existing hold is untouched). Escalation is done
here, by the clock; the HeldEvent the agent republishes for reviewers is such a
same-body re-send when read back.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson

from sluice.identity import fold_id, skeleton_id

__all__ = [
    "Effect",
    "Entry",
    "GateState",
    "HeldRefusal",
    "Refusal",
    "RegistryLike",
    "Vote",
    "closed_marker_ttl_ms",
    "match_count",
]

#: Default tolerated clock difference between reviewers, intake and the broker.
DEFAULT_SKEW_MS = 120_000


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
    #: An APPROVE for a level whose lower levels are not complete yet.
    LEVEL_PENDING = "level_pending"
    #: ``decided_at`` before the hold (or its escalation phase) began, beyond the skew.
    DECIDED_BEFORE_HOLD = "decided_before_hold"
    #: ``decided_at`` later than the decision's arrival, beyond the skew.
    DECIDED_IN_FUTURE = "decided_in_future"
    #: The decision record's Kafka timestamp is not the broker's LogAppendTime.
    NOT_LOG_APPEND_TIME = "not_log_append_time"


class HeldRefusal(StrEnum):
    """Bounded reasons a HeldEvent is refused by the gate (never held)."""

    #: A different body under an event_id that is held or was decided.
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    #: The HeldEvent's body does not hash to its ``content_hash``.
    CONTENT_HASH_MISMATCH = "content_hash_mismatch"


class RegistryLike(Protocol):
    """What the gate needs of :class:`sluice.gate.reviewers.Registry`."""

    def check(self, decision: Any) -> str | None: ...

    def reviewer(self, reviewer_id: str) -> Any: ...

    def key_live(self, reviewer_id: str, key_id: str) -> bool: ...


def closed_marker_ttl_ms(
    *,
    max_past_seconds: int,
    max_future_seconds: int,
    early_decision_ttl_seconds: int,
    margin_seconds: int = 3600,
) -> int:
    """How long a closed event_id is remembered.

    Intake accepts an event whose ``occurred_at`` lies within ``max_past_seconds``
    before and ``max_future_seconds`` after its arrival, so the same event_id can come
    back for that long after it was first held; a decision may wait
    ``early_decision_ttl_seconds`` for its event; ``margin_seconds`` covers pipeline lag.
    """
    return (
        max_past_seconds + max_future_seconds + early_decision_ttl_seconds + margin_seconds
    ) * 1000


#: One requirement group: (roles any of which qualifies, distinct approvals, level).
Group = tuple[frozenset[str], int, int]


def match_count(groups: Sequence[Group], voters: Sequence[tuple[frozenset[str], int]]) -> int:
    """Largest number of voters placed in distinct slots of ``groups``.

    A voter ``(roles, level)`` may fill a slot of group ``(g_roles, count, g_level)``
    when it holds one of ``g_roles`` and ``g_level <= level``; each voter fills at most
    one slot and a group at most ``count``. Augmenting paths (Kuhn) with capacities.
    """
    assigned: list[list[int]] = [[] for _ in groups]

    def eligible(v: int, g: int) -> bool:
        roles, _count, level = groups[g]
        return level <= voters[v][1] and not roles.isdisjoint(voters[v][0])

    def place(v: int, visited: set[int]) -> bool:
        for g in range(len(groups)):
            if g in visited or not eligible(v, g):
                continue
            visited.add(g)
            if len(assigned[g]) < groups[g][1]:
                assigned[g].append(v)
                return True
            for i, w in enumerate(assigned[g]):
                if place(w, visited):
                    assigned[g][i] = v
                    return True
        return False

    return sum(1 for v in range(len(voters)) if place(v, set()))


@dataclass(slots=True)
class Vote:
    """One counted APPROVE."""

    reviewer_id: str
    decision_id: str
    #: Key that signed it (None: restored from a changelog written before keys were kept).
    key_id: str | None
    #: The level that was current when it was counted (it fills slots up to there).
    level: int = 1
    #: SHA-256 of the public key that verified it (None: registry without fingerprints,
    #: or a changelog written before they were kept).
    key_fp: str | None = None


def _reqs(raw: Iterable[Any]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for r in raw:
        if isinstance(r, dict):
            out.append((str(r["role"]), int(r["count"]), int(r.get("level") or 1)))
        else:
            role, count, level = r
            out.append((str(role), int(count), int(level)))
    return tuple(out)


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
    #: folded reviewer id → counted APPROVE
    approvers: dict[str, Vote] = field(default_factory=dict)
    #: every decision id seen for this event (counted or refused)
    seen: set[str] = field(default_factory=set)
    #: decisions that arrived before the event: (arrival_ms, decision dict)
    early: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    first_seen: int = 0
    outcome: str | None = None
    closed_at: int = 0
    #: per-role requirements (role, count, level); empty: roles + approvals
    requirements: tuple[tuple[str, int, int], ...] = ()
    escalate_approvals: int = 0
    escalate_requirements: tuple[tuple[str, int, int], ...] = ()
    escalate_carry_votes: bool = False
    #: when the current phase began (held_at, then the escalation time)
    phase_at: int = 0

    def groups(self) -> list[Group]:
        """The current phase's requirement groups."""
        reqs = self.escalate_requirements if self.escalated else self.requirements
        if reqs:
            return [(frozenset({role}), max(1, count), level) for role, count, level in reqs]
        first = (
            sum(max(1, c) for _, c, _ in self.requirements)
            if self.requirements
            else max(1, self.approvals)
        )
        if self.escalated:
            return [(frozenset(self.escalate_roles), self.escalate_approvals or first, 1)]
        return [(frozenset(self.roles), first, 1)]

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
            "ap": {
                k: [v.reviewer_id, v.decision_id, v.key_id, v.level, v.key_fp]
                for k, v in self.approvers.items()
            },
            "seen": sorted(self.seen),
            "fs": self.first_seen,
            "out": self.outcome,
            "ca": self.closed_at,
            "h": base64.b64encode(self.held).decode() if self.held is not None else None,
            "early": [[t, _dec_json(d)] for t, d in self.early],
            "rq": [list(r) for r in self.requirements],
            "ea": self.escalate_approvals,
            "erq": [list(r) for r in self.escalate_requirements],
            "cv": self.escalate_carry_votes,
            "pa": self.phase_at,
        }
        return orjson.dumps(d)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Entry:
        """Inverse of :meth:`to_bytes` (also reads entries written before v2 fields)."""
        d = orjson.loads(raw)
        approvers: dict[str, Vote] = {}
        for k, v in d["ap"].items():
            if isinstance(v, str):  # older changelog: reviewer_id → decision_id
                approvers[fold_id(k)] = Vote(k, v, None, 1)
            else:
                approvers[k] = Vote(v[0], v[1], v[2], int(v[3]), v[4] if len(v) > 4 else None)
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
            approvers=approvers,
            seen=set(d["seen"]),
            first_seen=d["fs"],
            outcome=d["out"],
            closed_at=d["ca"],
            held=base64.b64decode(d["h"]) if d["h"] is not None else None,
            early=[(t, _dec_unjson(x)) for t, x in d["early"]],
            requirements=_reqs(d.get("rq") or ()),
            escalate_approvals=int(d.get("ea") or 0),
            escalate_requirements=_reqs(d.get("erq") or ()),
            escalate_carry_votes=bool(d.get("cv")),
            phase_at=int(d.get("pa", d["ha"])),
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
    escalated HeldEvent to write to the approvals topic, for reviewers), ``held_refused``
    (a HeldEvent the gate will not hold: ``reason`` and the refused ``held`` bytes go to
    the rejected topic).
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
        closed_ttl_ms: how long a closed marker is kept (from
            :func:`closed_marker_ttl_ms`; replays after that are refused as
            unknown_event rather than already_decided).
        skew_ms: tolerated clock difference for ``decided_at`` checks.
    """

    def __init__(
        self,
        registry: RegistryLike,
        *,
        early_ttl_ms: int = 3600_000,
        closed_ttl_ms: int | None = None,
        skew_ms: int = DEFAULT_SKEW_MS,
    ) -> None:
        self.registry = registry
        self.entries: dict[str, Entry] = {}
        self._heap: list[tuple[int, str]] = []
        self._early_ttl_ms = early_ttl_ms
        self._closed_ttl_ms = (
            closed_ttl_ms
            if closed_ttl_ms is not None
            else closed_marker_ttl_ms(
                max_past_seconds=7 * 86400,
                max_future_seconds=300,
                early_decision_ttl_seconds=early_ttl_ms // 1000,
            )
        )
        self._skew_ms = skew_ms

    @property
    def closed_ttl_ms(self) -> int:
        """How long closed markers are kept."""
        return self._closed_ttl_ms

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

    def next_due_ms(self) -> int | None:
        """When :meth:`tick` may next have work (ms since the epoch); None: nothing scheduled.

        Superseded schedule entries count too: a tick at that time may find nothing to do.
        """
        return self._heap[0][0] if self._heap else None

    def open_entries(self) -> list[Entry]:
        """Entries currently held."""
        return [e for e in self.entries.values() if e.status == "open"]

    def current_level(self, e: Entry) -> int | None:
        """Lowest level of the current phase not yet complete (None: quorum met)."""
        groups = e.groups()
        voters = [(self._roles(v.reviewer_id), v.level) for v in e.approvers.values()]
        for level in sorted({g[2] for g in groups}):
            upto = [g for g in groups if g[2] <= level]
            if match_count(upto, voters) < sum(g[1] for g in upto):
                return level
        return None

    def _roles(self, reviewer_id: str) -> frozenset[str]:
        reviewer = self.registry.reviewer(reviewer_id)
        return frozenset(reviewer.roles) if reviewer is not None else frozenset()

    # -- inputs -----------------------------------------------------------------

    def on_held(self, held: dict[str, Any], raw: bytes, now_ms: int) -> list[Effect]:
        """A HeldEvent arrived from intake (or this gate's escalation republish, read back)."""
        eid = held["event_id"]
        body_hash = hashlib.sha256(held["event"]).hexdigest()
        e = self.entries.get(eid)
        if body_hash != held["content_hash"]:
            return self._refuse_held(eid, held, raw, HeldRefusal.CONTENT_HASH_MISMATCH)
        if e is not None and e.status in ("open", "closed"):
            if body_hash != e.content_hash:
                return self._refuse_held(eid, held, raw, HeldRefusal.DUPLICATE_EVENT_ID)
            # Same content: nothing changes (no new roles, no later expiry). Audited.
            return [
                Effect(
                    "audit",
                    eid,
                    {
                        "transition": "held_resent",
                        "outcome": "held" if e.status == "open" else (e.outcome or "").lower(),
                        "reason_code": "same_content" if e.status == "open" else "already_decided",
                        "content_hash": body_hash,
                    },
                )
            ]
        early = e.early if e is not None else []
        seen = e.seen if e is not None else set()
        e = Entry(
            event_id=eid,
            status="open",
            held=raw,
            content_hash=body_hash,
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
            requirements=_reqs(held.get("requirements") or ()),
            escalate_approvals=max(0, int(held.get("escalate_approvals") or 0)),
            escalate_requirements=_reqs(held.get("escalate_requirements") or ()),
            escalate_carry_votes=bool(held.get("escalate_carry_votes")),
            phase_at=held["held_at"],
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

    def _refuse_held(
        self, eid: str, held: dict[str, Any], raw: bytes, reason: HeldRefusal
    ) -> list[Effect]:
        return [
            Effect(
                "audit",
                eid,
                {
                    "transition": "held_refused",
                    "outcome": "rejected",
                    "reason_code": reason.value,
                    "content_hash": _s(held.get("content_hash")),
                    "actor_id": _s(held.get("actor_id")),
                    "rule": _s(held.get("rule")),
                },
            ),
            Effect("held_refused", eid, {"reason": reason.value, "held": raw}),
        ]

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
        folded = fold_id(rid)
        if skeleton_id(rid) in {skeleton_id(x) for x in (e.actor_id, e.on_behalf_of) if x}:
            # Folded ids, and look-alikes of them (``alice`` with a Cyrillic U+0430 for ``a``).
            return [self._refuse(eid, dec, Refusal.SELF_APPROVAL)]
        decided_at = dec.get("decided_at")
        if not isinstance(decided_at, int) or isinstance(decided_at, bool):
            return [self._refuse(eid, dec, Refusal.MALFORMED)]
        since = e.held_at if e.escalate_carry_votes else e.phase_at
        if decided_at < since - self._skew_ms:
            return [self._refuse(eid, dec, Refusal.DECIDED_BEFORE_HOLD)]
        if decided_at > arrival_ms + self._skew_ms:
            return [self._refuse(eid, dec, Refusal.DECIDED_IN_FUTURE)]
        roles = frozenset(reviewer.roles)
        relevant = [g for g in e.groups() if not g[0].isdisjoint(roles)]
        if not relevant:
            return [self._refuse(eid, dec, Refusal.WRONG_ROLE)]
        if arrival_ms > e.expires_at:
            return [self._refuse(eid, dec, Refusal.EXPIRED)]
        if folded in e.approvers:
            return [self._refuse(eid, dec, Refusal.DUPLICATE_VOTE)]
        verdict = dec.get("verdict")
        if verdict not in ("APPROVE", "REJECT"):
            # The schema's enum allows nothing else; a signed "ABSTAIN" never approves.
            return [self._refuse(eid, dec, Refusal.MALFORMED)]
        if verdict == "REJECT" and not _visible(dec.get("reason")):
            return [self._refuse(eid, dec, Refusal.MISSING_REASON)]
        level = self.current_level(e) or max(g[2] for g in relevant)
        if verdict != "REJECT" and min(g[2] for g in relevant) > level:
            return [self._refuse(eid, dec, Refusal.LEVEL_PENDING)]
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
                    [did],
                ),
            ]
        kid = _s(dec.get("key_id"))
        e.approvers[folded] = Vote(rid, did, kid, level, self._key_fp(rid, kid))
        withdrawn = self._withdraw_dead(e)
        if self.current_level(e) is None:
            return [counted, audit, *withdrawn, *self._release_approved(e, now_ms)]
        return [counted, audit, *withdrawn]

    def _release_approved(self, e: Entry, now_ms: int) -> list[Effect]:
        votes = list(e.approvers.values())
        return self._close(
            e,
            "APPROVED",
            "REVIEWER",
            sorted(v.reviewer_id for v in votes),
            None,
            now_ms,
            [v.decision_id for v in votes],
        )

    def _withdraw_dead(self, e: Entry) -> list[Effect]:
        """Drop counted votes whose key is no longer live (revoked, or reviewer removed).

        Then, if that reopened a lower level, drop the votes counted at a higher level
        too (``level_reopened``): they were given once the lower levels looked complete,
        on approvals that no longer count, and are signed again after the lower levels
        are complete once more.
        """
        effects: list[Effect] = []
        for folded, v in list(e.approvers.items()):
            if self._vote_live(v):
                continue
            del e.approvers[folded]
            effects.append(self._withdrawn(e, v, Refusal.REVOKED_KEY.value))
        while effects:
            level = self.current_level(e)
            above = [
                (f, v) for f, v in e.approvers.items() if level is not None and v.level > level
            ]
            if not above:
                break
            for folded, v in above:
                del e.approvers[folded]
                effects.append(self._withdrawn(e, v, "level_reopened"))
        return effects

    @staticmethod
    def _withdrawn(e: Entry, v: Vote, reason: str) -> Effect:
        return Effect(
            "audit",
            e.event_id,
            {
                "transition": "vote_withdrawn",
                "outcome": "held",
                "reason_code": reason,
                "reviewer_id": v.reviewer_id,
                "decision_id": v.decision_id,
                "content_hash": e.content_hash,
            },
        )

    def _key_fp(self, reviewer_id: str, key_id: str | None) -> str | None:
        fingerprint = getattr(self.registry, "key_fingerprint", None)
        if fingerprint is None or key_id is None:
            return None
        fp = fingerprint(reviewer_id, key_id)
        return fp if isinstance(fp, str) else None

    def _vote_live(self, v: Vote) -> bool:
        """Whether the key behind a counted vote is still registered, live and the same."""
        if v.key_id is None:
            # Restored from a changelog that kept no key id: the reviewer must still
            # hold some live key (a reviewer removed or fully revoked loses the vote).
            reviewer = self.registry.reviewer(v.reviewer_id)
            keys = getattr(reviewer, "keys", None) or {}
            return any(self.registry.key_live(v.reviewer_id, k) for k in keys)
        if not self.registry.key_live(v.reviewer_id, v.key_id):
            return False
        # Same key id, other public key (rotated in place): not the key that signed.
        return v.key_fp is None or self._key_fp(v.reviewer_id, v.key_id) == v.key_fp

    def revalidate(self, now_ms: int) -> list[Effect]:
        """After a registry change: withdraw counted votes whose key is no longer live."""
        effects: list[Effect] = []
        for e in self.entries.values():
            if e.status != "open":
                continue
            withdrawn = self._withdraw_dead(e)
            if withdrawn:
                effects += withdrawn
                effects.append(Effect("changelog", e.event_id, entry=e))
        return effects

    def _close(
        self,
        e: Entry,
        outcome: str,
        source: str,
        reviewers: list[str],
        reason: str | None,
        now_ms: int,
        decisions: list[str],
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
                    "decisions": decisions,
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
        if (
            e.on_expiry == "ESCALATE"
            and not e.escalated
            and (e.escalate_roles or e.escalate_requirements)
        ):
            return self._escalate(e, now_ms)
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
            sorted(v.reviewer_id for v in e.approvers.values()),
            "hold expired" if outcome == "REJECTED" else "approved on expiry",
            now_ms,
            [v.decision_id for v in e.approvers.values()],
        )
        effects.append(Effect("changelog", e.event_id, entry=e))
        return effects

    def _escalate(self, e: Entry, now_ms: int) -> list[Effect]:
        e.escalated = True
        e.phase_at = now_ms
        e.expires_at = now_ms + max(1, e.escalate_ttl_ms)
        if e.escalate_carry_votes:
            for v in e.approvers.values():
                v.level = 1
        else:
            e.approvers.clear()  # the new phase counts its own votes
        groups = e.groups()
        self._schedule(e)
        effects = [
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
                },
            ),
        ]
        if e.escalate_carry_votes and e.approvers:
            effects += self._withdraw_dead(e)
            if self.current_level(e) is None:
                effects += self._release_approved(e, now_ms)
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


def _visible(text: Any) -> bool:
    """Whether ``text`` shows anything: whitespace, zero-width, bidi or control
    characters only is no reason at all."""
    if not isinstance(text, str):
        return False
    return any(ch.isprintable() and not ch.isspace() for ch in fold_id(text))


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None
