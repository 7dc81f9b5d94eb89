"""The review queue from the gate's compacted state (``workflow.gate.state``). Pure.

The gate keeps one changelog entry per event id (:class:`~sluice.gate.entry.Entry`),
compacted to the latest: open entries carry the HeldEvent bytes, the current roles and
expiry (after an escalation too) and the approvals the gate counted. Reading it costs
the number of event ids still in the table, not the length of the approvals and
decisions history. What the gate has not consumed yet (records past its group's
committed offsets on ``workflow.approvals`` / ``workflow.decisions``) is folded on top,
so a hold published a moment ago is listed too.

Counted votes come from the gate (valid by its checks; their time and reason are not in
the changelog: ``decided_at`` and ``reason`` are None). Votes it refused are not in the
changelog (``review show`` and the audit trail have them); a valid REJECT closes the
entry, so an open one has none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice.gate.entry import Entry
from sluice.gate.queue import (
    QueueState,
    amendment_progress,
    entry_view,
    leading_approvers,
    requirement_progress,
)

if TYPE_CHECKING:
    from sluice.gate.reviewers import Registry

__all__ = ["GateSnapshot", "snapshot_entries", "snapshot_state"]

log = logging.getLogger(__name__)

KeyValue = tuple[bytes | None, bytes | None]


@dataclass
class GateSnapshot:
    """Open holds from the gate state, plus records the gate has not consumed yet."""

    state: QueueState = field(default_factory=QueueState)
    #: event_id → the votes the gate counted (vote_view-shaped, valid).
    counted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _held_record(entry: Entry) -> dict[str, Any] | None:
    from sluice.codec import default_codec
    from sluice.errors import DecodeError

    if entry.held is None:
        return None
    try:
        held: dict[str, Any] = default_codec().decode("HeldEvent", entry.held)
    except DecodeError:
        return None
    held["expires_at"] = entry.expires_at
    if entry.escalated:  # as the gate's republished HeldEvent says it
        groups = entry.groups()
        held["roles"] = sorted({r for g in groups for r in g[0]})
        held["approvals"] = sum(g[1] for g in groups)
        held["requirements"] = [
            {"role": next(iter(g[0])), "count": g[1], "level": g[2]}
            for g in groups
            if entry.escalate_requirements
        ]
        held["held_at"] = entry.phase_at
    return held


def snapshot_state(
    changelog: Iterable[KeyValue],
    approvals_tail: Iterable[KeyValue] = (),
    decisions_tail: Iterable[KeyValue] = (),
) -> GateSnapshot:
    """Fold the gate changelog (topic order; latest per key wins, tombstones delete)
    and then the records the gate has not consumed yet."""
    from sluice.codec import default_codec
    from sluice.errors import DecodeError

    latest: dict[bytes, bytes | None] = {}
    for key, value in changelog:
        if key is not None:
            latest[key] = value
    snap = GateSnapshot()
    state = snap.state
    for value in latest.values():
        if value is None:
            continue
        try:
            entry = Entry.from_bytes(value)
        except Exception:  # a changelog value this version cannot read
            state.undecodable["gate_state"] = state.undecodable.get("gate_state", 0) + 1
            continue
        if entry.status != "open":
            continue
        held = _held_record(entry)
        if held is None:
            state.undecodable["gate_state"] = state.undecodable.get("gate_state", 0) + 1
            continue
        state.held[entry.event_id] = held
        snap.counted[entry.event_id] = [
            {
                "decision_id": v.decision_id,
                "reviewer_id": v.reviewer_id,
                "verdict": "APPROVE",
                "decided_at": None,
                "key_id": v.key_id,
                "reason": None,
                "valid": True,
                "refusal": None,
                "amended_hash": v.target or None,
            }
            for v in entry.approvers.values()
        ]
    codec = default_codec()
    for name, records in (("HeldEvent", approvals_tail), ("Decision", decisions_tail)):
        for _key, value in records:
            if value is None:
                continue
            try:
                rec = codec.decode(name, value)
            except DecodeError:
                state.undecodable[name] = state.undecodable.get(name, 0) + 1
                continue
            if name == "HeldEvent":
                if rec["event_id"] not in snap.counted:  # the changelog knows better
                    state.add_held(rec)
            else:
                state.add_vote(rec)
    return snap


def snapshot_entries(
    snap: GateSnapshot,
    now_ms: int,
    *,
    role: str | None = None,
    registry: Registry | None = None,
) -> list[dict[str, Any]]:
    """Queue entries (:func:`~sluice.gate.queue.entry_view` objects), oldest first."""
    out = []
    for eid, held in snap.state.held.items():
        if role is not None and role not in held["roles"]:
            continue
        entry = entry_view(held, snap.state.votes.get(eid, ()), now_ms, registry)
        counted = snap.counted.get(eid, [])
        ids = {v["decision_id"] for v in counted}
        votes = counted + [v for v in entry["votes"] if v["decision_id"] not in ids]
        approvers = leading_approvers(votes)
        rejecters = {
            v["reviewer_id"] for v in votes if v["verdict"] == "REJECT" and v["valid"] is not False
        }
        entry.update(votes=votes, approvals=len(approvers), rejections=len(rejecters))
        entry.update(
            amendment_progress(
                requirement_progress(held, sorted(approvers), registry), votes, approvers
            )
        )
        out.append(entry)
    out.sort(key=lambda e: (e["held_at"], e["received_at"] or 0, e["event_id"]))
    return out
