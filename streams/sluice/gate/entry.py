"""One held event's gate state (:class:`Entry`), its counted votes, and its changelog form.

Plain data: :class:`sluice.gate.quorum.GateState` owns the transitions. ``to_bytes`` /
``from_bytes`` are the gate changelog's value format; ``from_bytes`` also reads entries
written before the per-role requirement, key-fingerprint and headers fields existed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sluice.gate.requirements import Group, requirement_tuples
from sluice.identity import fold_id

__all__ = ["Amendment", "Entry", "Vote"]

#: An approved amendment kept on an open entry: (amended event bytes, changed fields,
#: findings of the amended event as Avro ``Finding`` dicts).
Amendment = tuple[bytes, tuple[str, ...], list[dict[str, Any]]]


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
    #: The final bytes it approves: ``""`` for the held event, else the amended event's
    #: hash (approve with amendments; the amended bytes are in ``Entry.amendments``).
    target: str = ""


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
    #: Kafka headers the HeldEvent record carried (:func:`sluice.headers.carry`), for
    #: the release; dropped with ``held`` when the entry closes.
    headers: tuple[tuple[str, bytes], ...] = ()
    #: Approve with amendments: amended event hash → (its bytes, the fields it changed,
    #: its findings as Avro ``Finding`` dicts), for every amendment some counted vote
    #: approves; dropped with ``held`` on close.
    amendments: dict[str, Amendment] = field(default_factory=dict)

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

    def role_label(self, known: frozenset[str]) -> str:
        """The one role this open hold is counted under in ``sluice_held_events``: the
        first role of the current phase, lowest level first and in the policy's order,
        that is in ``known`` (the registry's roles); ``"other"`` when none is. One role
        per hold, so summing the gauge over roles still counts each hold once."""
        reqs = self.escalate_requirements if self.escalated else self.requirements
        if reqs:
            roles = [role for role, _, _ in sorted(reqs, key=lambda r: r[2])]
        else:
            roles = list(self.escalate_roles if self.escalated else self.roles)
        return next((r for r in roles if r in known), "other")

    @classmethod
    def opened(
        cls,
        held: dict[str, Any],
        raw: bytes,
        content_hash: str,
        seen: set[str],
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> Entry:
        """A new open entry for the HeldEvent ``held`` (``raw``: its bytes, whose body
        hashes to ``content_hash``); ``seen``: decision ids already seen for it;
        ``headers``: the Kafka headers its record carried."""
        return cls(
            event_id=held["event_id"],
            status="open",
            held=raw,
            content_hash=content_hash,
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
            requirements=requirement_tuples(held.get("requirements") or ()),
            escalate_approvals=max(0, int(held.get("escalate_approvals") or 0)),
            escalate_requirements=requirement_tuples(held.get("escalate_requirements") or ()),
            escalate_carry_votes=bool(held.get("escalate_carry_votes")),
            phase_at=held["held_at"],
            headers=tuple(headers),
        )

    def to_bytes(self) -> bytes:
        """Changelog value."""
        d: dict[str, Any] = {
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
                + ([v.target] if v.target else [])
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
        if self.headers:  # only when there are: entries without stay as they were
            d["hd"] = [[n, base64.b64encode(v).decode()] for n, v in self.headers]
        if self.amendments:  # likewise
            d["am"] = {
                h: [base64.b64encode(b).decode(), list(c), f]
                for h, (b, c, f) in self.amendments.items()
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
                approvers[k] = Vote(
                    v[0],
                    v[1],
                    v[2],
                    int(v[3]),
                    v[4] if len(v) > 4 else None,
                    v[5] if len(v) > 5 else "",
                )
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
            requirements=requirement_tuples(d.get("rq") or ()),
            escalate_approvals=int(d.get("ea") or 0),
            escalate_requirements=requirement_tuples(d.get("erq") or ()),
            escalate_carry_votes=bool(d.get("cv")),
            phase_at=int(d.get("pa", d["ha"])),
            headers=tuple((n, base64.b64decode(v)) for n, v in d.get("hd") or ()),
            amendments={
                h: (base64.b64decode(b), tuple(c), list(f))
                for h, (b, c, f) in (d.get("am") or {}).items()
            },
        )


#: Decision fields that are bytes (base64 in the changelog's JSON).
_DEC_BYTES = ("signature", "amended_event")


def _dec_json(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    for name in _DEC_BYTES:
        if isinstance(out.get(name), bytes | bytearray):
            out[name] = base64.b64encode(out[name]).decode()
    return out


def _dec_unjson(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    for name in _DEC_BYTES:
        if isinstance(out.get(name), str):
            out[name] = base64.b64decode(out[name])
    return out
