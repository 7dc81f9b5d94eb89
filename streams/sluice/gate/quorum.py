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

Approve with amendments (rules: :mod:`sluice.gate.amend`): each counted vote has a
*target*, the final bytes it approves (``""``: the held bytes, else an amended hash);
a quorum counts the votes of one target only, and a reviewer's vote for another target
replaces theirs (``vote_withdrawn``/``superseded``). Every release's bytes still hash
to what every counted vote for it signed.

Layout: this module holds the transitions (:class:`GateState`); the entry and its
changelog form are :mod:`sluice.gate.entry`, the quorum arithmetic
:mod:`sluice.gate.requirements`, the vote checks and refusal reasons
:mod:`sluice.gate.votes`, and the records the agent writes :mod:`sluice.gate.effects`.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from typing import Any

from sluice.gate import effects as fx
from sluice.gate.amend import AmendmentChecker, AmendmentError, checked_amendment
from sluice.gate.effects import Effect
from sluice.gate.entry import Entry, Vote
from sluice.gate.requirements import current_level, match_count
from sluice.gate.votes import (
    DEFAULT_SKEW_MS,
    HeldRefusal,
    Refusal,
    RegistryLike,
    key_fingerprint,
    refusal,
    vote_live,
    vote_refusal,
    vote_target,
)
from sluice.identity import fold_id

__all__ = [
    "DEFAULT_SKEW_MS",
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


class GateState:
    """All entries of one partition, with an expiry heap.

    Args:
        registry: reviewers and keys.
        early_ttl_ms: how long a decision may wait for its held event.
        closed_ttl_ms: how long a closed marker is kept (from
            :func:`closed_marker_ttl_ms`; replays after that are refused as
            unknown_event rather than already_decided).
        skew_ms: tolerated clock difference for ``decided_at`` checks.
        amendments: checks approvals with amendments (None: every amendment is refused
            as ``amendment_invalid``).
    """

    def __init__(
        self,
        registry: RegistryLike,
        *,
        early_ttl_ms: int = 3600_000,
        closed_ttl_ms: int | None = None,
        skew_ms: int = DEFAULT_SKEW_MS,
        amendments: AmendmentChecker | None = None,
    ) -> None:
        self.registry = registry
        self.amendments = amendments
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

    def current_level(self, e: Entry, target: str = "") -> int | None:
        """Lowest level of the current phase not yet complete for the votes approving
        ``target`` (``""``: the held bytes; else an amended event's hash); None: met."""
        votes = [v for v in e.approvers.values() if v.target == target]
        voters = [(self._roles(v.reviewer_id), v.level) for v in votes]
        return current_level(e.groups(), voters)

    def _roles(self, reviewer_id: str) -> frozenset[str]:
        reviewer = self.registry.reviewer(reviewer_id)
        return frozenset(reviewer.roles) if reviewer is not None else frozenset()

    # -- inputs -----------------------------------------------------------------

    def on_held(
        self,
        held: dict[str, Any],
        raw: bytes,
        now_ms: int,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> list[Effect]:
        """A HeldEvent arrived from intake (or this gate's escalation republish, read back);
        ``headers``: the Kafka headers its record carried, for the release."""
        eid = held["event_id"]
        body_hash = hashlib.sha256(held["event"]).hexdigest()
        e = self.entries.get(eid)
        if body_hash != held["content_hash"]:
            return fx.held_refused(eid, held, raw, HeldRefusal.CONTENT_HASH_MISMATCH)
        if e is not None and e.status in ("open", "closed"):
            if body_hash != e.content_hash:
                return fx.held_refused(eid, held, raw, HeldRefusal.DUPLICATE_EVENT_ID)
            # Same content: nothing changes (no new roles, no later expiry). Audited.
            return [fx.held_resent(e, body_hash)]
        early = e.early if e is not None else []
        seen = e.seen if e is not None else set()
        e = Entry.opened(held, raw, body_hash, seen, headers)
        self.entries[eid] = e
        self._schedule(e)
        effects = [fx.held(e, held)]
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
            return [fx.refused("", dec, Refusal.MALFORMED)]
        e = self.entries.get(eid)
        if e is None or e.status == "awaiting":
            # Before its event: check what can be checked now, keep it for later.
            reason = self.registry.check(dec)
            if reason is not None:
                return [fx.refused(eid, dec, refusal(reason))]
            if e is None:
                e = Entry(event_id=eid, status="awaiting", first_seen=now_ms)
                self.entries[eid] = e
                self._schedule(e)
            if dec["decision_id"] in e.seen or any(
                d["decision_id"] == dec["decision_id"] for _, d in e.early
            ):
                return [fx.refused(eid, dec, Refusal.REPLAY)]
            e.early.append((arrival_ms, dec))
            return [fx.decision_early(eid, dec), Effect("changelog", eid, entry=e)]
        effects = self._decide(e, dec, arrival_ms, now_ms)
        effects.append(Effect("changelog", eid, entry=e))
        return effects

    def _decide(self, e: Entry, dec: dict[str, Any], arrival_ms: int, now_ms: int) -> list[Effect]:
        eid = e.event_id
        did = dec.get("decision_id")
        if not isinstance(did, str):
            return [fx.refused(eid, dec, Refusal.MALFORMED)]
        if did in e.seen:
            return [fx.refused(eid, dec, Refusal.REPLAY)]
        e.seen.add(did)
        if e.status == "closed":
            return [fx.refused(eid, dec, Refusal.ALREADY_DECIDED)]
        reason = self.registry.check(dec)
        if reason is not None:
            return [fx.refused(eid, dec, refusal(reason))]
        refused = vote_refusal(e, dec, self.registry, arrival_ms, self._skew_ms)
        if refused is not None:
            return [fx.refused(eid, dec, refused)]
        rid = dec["reviewer_id"]
        verdict = dec["verdict"]
        target = vote_target(dec)
        amendment = None
        if target:
            try:
                amendment = checked_amendment(self.amendments, e, dec, target)
            except AmendmentError as exc:
                return [fx.refused(eid, dec, exc.refusal)]
        roles = self._roles(rid)
        relevant = [g for g in e.groups() if not g[0].isdisjoint(roles)]
        level = self.current_level(e, target) or max(g[2] for g in relevant)
        if verdict != "REJECT" and min(g[2] for g in relevant) > level:
            return [fx.refused(eid, dec, Refusal.LEVEL_PENDING)]
        counted = fx.counted(e, verdict, rid, did, target, amendment)
        if verdict == "REJECT":
            return [
                *counted,
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
        fp = key_fingerprint(self.registry, rid, kid)
        prior = e.approvers.pop(fold_id(rid), None)  # over other bytes (see vote_refusal)
        superseded = [fx.vote_withdrawn(e, prior, "superseded")] if prior is not None else []
        e.approvers[fold_id(rid)] = Vote(rid, did, kid, level, fp, target)
        if amendment is not None:
            e.amendments[target] = amendment
        # Superseding may reopen a level of the prior vote's target, as a withdrawal does.
        withdrawn = self._withdraw_dead(e, superseded)
        # Keep only amendments some counted vote approves (bounded by the reviewers).
        targets = {v.target for v in e.approvers.values()}
        e.amendments = {h: a for h, a in e.amendments.items() if h in targets}
        if self._met(e, target):
            return [*counted, *withdrawn, *self._release_approved(e, now_ms, target)]
        return [*counted, *withdrawn]

    def _met(self, e: Entry, target: str) -> bool:
        """Whether the votes for ``target`` release it: the phase's quorum, and for an
        amendment at least two distinct reviewers (separation of duties: whoever wrote
        the amended bytes is their author, so someone else approves them too, even under
        a one-approval hold)."""
        if self.current_level(e, target) is not None:
            return False
        return not target or sum(v.target == target for v in e.approvers.values()) >= 2

    def _release_approved(self, e: Entry, now_ms: int, target: str = "") -> list[Effect]:
        votes = [v for v in e.approvers.values() if v.target == target]
        return self._close(
            e,
            "APPROVED",
            "REVIEWER",
            sorted(v.reviewer_id for v in votes),
            None,
            now_ms,
            [v.decision_id for v in votes],
            target,
        )

    def _withdraw_dead(self, e: Entry, withdrawn: Sequence[Effect] = ()) -> list[Effect]:
        """Drop counted votes whose key is no longer live (revoked, or reviewer removed).

        Then, if that reopened a lower level, drop the votes counted at a higher level
        too (``level_reopened``): they were given once the lower levels looked complete,
        on approvals that no longer count, and are signed again after the lower levels
        are complete once more.
        """
        effects: list[Effect] = list(withdrawn)  # votes the caller already took away
        for folded, v in list(e.approvers.items()):
            if vote_live(self.registry, v):
                continue
            del e.approvers[folded]
            effects.append(fx.vote_withdrawn(e, v, Refusal.REVOKED_KEY.value))
        while effects:
            levels = {t: self.current_level(e, t) for t in {v.target for v in e.approvers.values()}}
            above = [
                (f, v)
                for f, v in e.approvers.items()
                if (level := levels[v.target]) is not None and v.level > level
            ]
            if not above:
                break
            for folded, v in above:
                del e.approvers[folded]
                effects.append(fx.vote_withdrawn(e, v, "level_reopened"))
        return effects

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
        target: str = "",
    ) -> list[Effect]:
        e.status = "closed"
        e.outcome = outcome
        e.closed_at = now_ms
        held, headers = e.held, e.headers
        amendment = e.amendments.get(target) if target else None
        e.held = None  # the body is no longer needed: keep the marker small
        e.headers = ()
        e.amendments = {}
        self._schedule(e)
        return fx.closed(e, held, source, reviewers, reason, decisions, headers, target, amendment)

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
                    effects.append(fx.refused(eid, dec, Refusal.UNKNOWN_EVENT))
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
        # The held bytes are released (or rejected): only votes for them are named, never
        # an approval of an amended version (its reviewer did not approve these bytes).
        votes = [v for v in e.approvers.values() if not v.target]
        effects += self._close(
            e,
            outcome,
            "EXPIRY",
            sorted(v.reviewer_id for v in votes),
            "hold expired" if outcome == "REJECTED" else "approved on expiry",
            now_ms,
            [v.decision_id for v in votes],
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
            e.amendments = {}
        groups = e.groups()
        self._schedule(e)
        effects = fx.escalated(e, groups, now_ms)
        if e.escalate_carry_votes and e.approvers:
            effects += self._withdraw_dead(e)
            for target in sorted({v.target for v in e.approvers.values()}):
                if self._met(e, target):
                    effects += self._release_approved(e, now_ms, target)
                    break
        effects.append(Effect("changelog", e.event_id, entry=e))
        return effects

    def oldest_open_held_at(self) -> int | None:
        """held_at of the oldest open entry (for the age gauge)."""
        times = [e.held_at for e in self.entries.values() if e.status == "open"]
        return min(times) if times else None


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None
