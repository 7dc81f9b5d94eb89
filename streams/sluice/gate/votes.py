"""Which decisions the gate counts: refusal reasons, vote checks and key liveness.

Pure checks over an :class:`~sluice.gate.entry.Entry` and the registry (no state
changes): :class:`sluice.gate.quorum.GateState` runs them in order and records what
they decide. The rules are listed in :mod:`sluice.gate.quorum`'s docstring.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from sluice.gate.entry import Entry, Vote
from sluice.identity import fold_id, skeleton_id

__all__ = [
    "DEFAULT_SKEW_MS",
    "HeldRefusal",
    "Refusal",
    "RegistryLike",
    "key_fingerprint",
    "refusal",
    "vote_live",
    "vote_refusal",
    "vote_target",
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
    #: Approve with amendments: ``amended_event`` does not hash to ``amended_hash``.
    AMENDMENT_HASH_MISMATCH = "amendment_hash_mismatch"
    #: The amended event does not decode or validate, changes a field that may not be
    #: amended, changes nothing, is not in canonical form, or comes with a REJECT.
    AMENDMENT_INVALID = "amendment_invalid"
    #: The amended event is not clean: re-sanitizing it would change it (a secret, PII
    #: to redact, markup...). Never released, not even redacted: nobody signed that.
    AMENDMENT_UNSAFE = "amendment_unsafe"


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


def refusal(reason: str) -> Refusal:
    """The :class:`Refusal` named by a registry check's reason (unknown: malformed)."""
    try:
        return Refusal(reason)
    except ValueError:
        return Refusal.MALFORMED


def vote_refusal(
    e: Entry, dec: dict[str, Any], registry: RegistryLike, arrival_ms: int, skew_ms: int
) -> Refusal | None:
    """Why a signature-checked decision for the open entry ``e`` does not count, or None.

    In order: content hash, reviewer registered, neither the actor nor on_behalf_of,
    ``decided_at`` within the phase and not after arrival (``skew_ms`` either way), a
    role the phase asks for, before expiry, no vote yet, a known verdict, and a visible
    reason for a REJECT. Levels are checked by the caller (they need the counted votes).
    """
    if dec.get("content_hash") != e.content_hash:
        return Refusal.CONTENT_MISMATCH
    rid = dec["reviewer_id"]
    reviewer = registry.reviewer(rid)
    if reviewer is None:
        return Refusal.UNKNOWN_REVIEWER
    if skeleton_id(rid) in {skeleton_id(x) for x in (e.actor_id, e.on_behalf_of) if x}:
        # Folded ids, and look-alikes of them (``alice`` with a Cyrillic U+0430 for ``a``).
        return Refusal.SELF_APPROVAL
    decided_at = dec.get("decided_at")
    if not isinstance(decided_at, int) or isinstance(decided_at, bool):
        return Refusal.MALFORMED
    since = e.held_at if e.escalate_carry_votes else e.phase_at
    if decided_at < since - skew_ms:
        return Refusal.DECIDED_BEFORE_HOLD
    if decided_at > arrival_ms + skew_ms:
        return Refusal.DECIDED_IN_FUTURE
    roles = frozenset(reviewer.roles)
    if all(g[0].isdisjoint(roles) for g in e.groups()):
        return Refusal.WRONG_ROLE
    if arrival_ms > e.expires_at:
        return Refusal.EXPIRED
    verdict = dec.get("verdict")
    prior = e.approvers.get(fold_id(rid))
    # One counted APPROVE per reviewer and final bytes: a vote over other bytes (the
    # original, or another amendment) does not stop this one; it is replaced by it.
    if prior is not None and (verdict == "REJECT" or prior.target == vote_target(dec)):
        return Refusal.DUPLICATE_VOTE
    if verdict not in ("APPROVE", "REJECT"):
        # The schema's enum allows nothing else; a signed "ABSTAIN" never approves.
        return Refusal.MALFORMED
    if verdict == "REJECT" and dec.get("amended_hash") is not None:
        return Refusal.AMENDMENT_INVALID  # amendments come with approvals only
    if verdict == "REJECT" and not _visible(dec.get("reason")):
        return Refusal.MISSING_REASON
    return None


def vote_target(dec: dict[str, Any]) -> str:
    """The final bytes a decision votes for: its ``amended_hash``, or ``""`` for the
    held bytes themselves (:attr:`sluice.gate.entry.Vote.target`)."""
    amended = dec.get("amended_hash")
    return amended if isinstance(amended, str) else ""


def _visible(text: Any) -> bool:
    """Whether ``text`` shows anything: whitespace, zero-width, bidi or control
    characters only is no reason at all."""
    if not isinstance(text, str):
        return False
    return any(ch.isprintable() and not ch.isspace() for ch in fold_id(text))


def key_fingerprint(registry: RegistryLike, reviewer_id: str, key_id: str | None) -> str | None:
    """SHA-256 of the public key registered as ``key_id`` (None: the registry keeps no
    fingerprints, or no key id)."""
    fingerprint = getattr(registry, "key_fingerprint", None)
    if fingerprint is None or key_id is None:
        return None
    fp = fingerprint(reviewer_id, key_id)
    return fp if isinstance(fp, str) else None


def vote_live(registry: RegistryLike, v: Vote) -> bool:
    """Whether the key behind a counted vote is still registered, live and the same."""
    if v.key_id is None:
        # Restored from a changelog that kept no key id: the reviewer must still
        # hold some live key (a reviewer removed or fully revoked loses the vote).
        reviewer = registry.reviewer(v.reviewer_id)
        keys = getattr(reviewer, "keys", None) or {}
        return any(registry.key_live(v.reviewer_id, k) for k in keys)
    if not registry.key_live(v.reviewer_id, v.key_id):
        return False
    # Same key id, other public key (rotated in place): not the key that signed.
    return v.key_fp is None or key_fingerprint(registry, v.reviewer_id, v.key_id) == v.key_fp
