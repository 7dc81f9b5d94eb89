"""The quarantines in force, folded from control records: pure, no I/O.

:meth:`Controls.apply` takes one decoded control (:mod:`sluice.quarantine.records`) and
either applies it or refuses it with a :class:`ControlRefusal`. A control counts only if
it is signed by a live key of the reviewers registry (exact registered spelling, as a
Decision), its id was never seen before (replays are refused), and its signer holds a
role the policy names for the action (:class:`~sluice.quarantine.config.QuarantineConfig`).
An ``add`` whose ``until`` has passed is refused as expired. A lift vote counts once per
reviewer (registered id); the quarantine is lifted when the policy's number of distinct
reviewers with a lift role have voted. A reviewer whose id looks like the quarantined
actor's (:func:`sluice.identity.skeleton_id`) cannot vote to lift it.

Subjects match as people read them: a quarantine of ``bob`` also holds ``BOB``, its fullwidth
spelling and ``b0b`` (skeletons compare equal): holding a look-alike is the safe side.

Everything is bounded: quarantines in force, votes waiting for the ``add`` they name
(records of a compacted topic can come in any order across partitions), and the control
ids remembered for replay checks (oldest forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature

from sluice.identity import skeleton_id
from sluice.policy.model import Assessment, combine_holds
from sluice.quarantine.config import QuarantineConfig
from sluice.quarantine.records import Action, Mode, SubjectType, control_bytes

__all__ = ["RULE", "Applied", "ControlRefusal", "Controls", "Quarantine"]

#: The rule name of every hold or rejection a quarantine causes.
RULE = "quarantine"
_SIGNATURE_LEN = 64


class ControlRefusal(StrEnum):
    """Why a control was not applied (a bounded metric label set)."""

    MALFORMED = "malformed"
    UNKNOWN_REVIEWER = "unknown_reviewer"
    UNKNOWN_KEY = "unknown_key"
    REVOKED_KEY = "revoked_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_ROLE = "wrong_role"
    REPLAYED = "replayed"
    EXPIRED = "expired"
    DUPLICATE_VOTE = "duplicate_vote"
    SELF_LIFT = "self_lift"
    SUBJECT_MISMATCH = "subject_mismatch"
    NOT_IN_FORCE = "not_in_force"
    TOO_MANY = "too_many"


class RegistryLike(Protocol):
    """What controls need of :class:`sluice.gate.reviewers.Registry`."""

    def reviewer(self, reviewer_id: str) -> Any: ...


@dataclass(slots=True)
class Quarantine:
    """One quarantine in force."""

    id: str
    subject_type: str
    subject: str
    mode: str
    #: Epoch ms after which it no longer holds (0: until lifted).
    until: int
    reason: str
    added_by: str
    added_at: int
    #: Registered reviewer id → lift control id.
    lift_votes: dict[str, str] = field(default_factory=dict)
    #: Registered reviewer id → the key id that signed their lift vote.
    lift_keys: dict[str, str] = field(default_factory=dict)

    def in_force(self, now: int) -> bool:
        return self.until == 0 or self.until > now


@dataclass(frozen=True, slots=True)
class Applied:
    """What one control did."""

    #: ``added``, ``lift_counted``, ``lifted``, ``pending`` or ``refused``.
    result: str
    control: Mapping[str, Any] | None
    refusal: ControlRefusal | None = None
    quarantine: Quarantine | None = None


class Controls:
    """Quarantines in force for one worker, and the check intake runs on each event."""

    def __init__(
        self,
        registry: RegistryLike,
        config: QuarantineConfig | None = None,
        *,
        max_quarantines: int = 10_000,
        max_pending: int = 1_000,
        max_seen: int = 100_000,
    ) -> None:
        self.registry = registry
        self.config = config or QuarantineConfig()
        self._q: dict[str, Quarantine] = {}
        self._index: dict[tuple[str, str], set[str]] = {}
        self._pending: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._pending_n = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lifted: OrderedDict[str, None] = OrderedDict()
        self._max_q = max_quarantines
        self._max_pending = max_pending
        self._max_seen = max_seen
        #: (held | rejected, subject type) → events changed since the last reset.
        self.hits: dict[tuple[str, str], int] = {}

    # -- reading ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether any quarantine is held (in force or expired but not yet purged)."""
        return bool(self._q)

    def in_force(self, now: int) -> list[Quarantine]:
        """Quarantines in force at ``now``, oldest first."""
        return sorted(
            (q for q in self._q.values() if q.in_force(now)), key=lambda q: (q.added_at, q.id)
        )

    def counts(self, now: int) -> dict[str, int]:
        """Subject type → distinct subjects in force (expired ones are purged)."""
        for qid in [qid for qid, q in self._q.items() if not q.in_force(now)]:
            self._drop(qid)
        out = dict.fromkeys((s.value for s in SubjectType), 0)
        for (stype, _), ids in self._index.items():
            if ids:
                out[stype] += 1
        return out

    def match(self, actor: str, workflow: str, run: str, now: int) -> Quarantine | None:
        """The quarantine in force over any of these subjects (a rejecting one first)."""
        found: Quarantine | None = None
        for stype, value in (
            (SubjectType.ACTOR.value, actor),
            (SubjectType.WORKFLOW.value, workflow),
            (SubjectType.RUN.value, run),
        ):
            for qid in self._index.get((stype, skeleton_id(value)), ()):
                q = self._q[qid]
                if not q.in_force(now):
                    continue
                if q.mode == Mode.REJECT:
                    return q
                found = found or q
        return found

    def override(self, a: Assessment, event: Mapping[str, Any], now: int) -> Assessment:
        """The policy's assessment ``a``, or the quarantine's when ``event`` is quarantined.

        A deny stays a deny. Mode ``hold``: a hold under rule ``quarantine`` that needs
        the configured reviewers and whatever the policy's own hold needs. Mode
        ``reject``: a deny under rule ``quarantine``.
        """
        if a.outcome == "deny":
            return a
        q = self.match(
            str(event["actor"]["id"]), str(event["workflow_id"]), str(event["run_id"]), now
        )
        if q is None:
            return a
        reason = f"quarantine {q.id} of {q.subject_type} {q.subject}: {q.reason}"[:500]
        rules = (RULE, *a.rules)
        if q.mode == Mode.REJECT:
            key = ("rejected", q.subject_type)
            self.hits[key] = self.hits.get(key, 0) + 1
            return Assessment(
                "deny", RULE, reason, None, a.policy_hash, a.risk_score, a.errors, rules
            )
        spec = self.config.hold
        if a.outcome == "hold" and a.hold is not None:
            spec = combine_holds([spec, a.hold])
        key = ("held", q.subject_type)
        self.hits[key] = self.hits.get(key, 0) + 1
        return Assessment("hold", RULE, reason, spec, a.policy_hash, a.risk_score, a.errors, rules)

    # -- applying -----------------------------------------------------------------------

    def apply(self, control: Mapping[str, Any] | None, now: int) -> Applied:
        """Apply one decoded control (None: a record that did not decode)."""
        if control is None:
            return Applied("refused", None, ControlRefusal.MALFORMED)
        signer, refusal = self._signer(control)
        if refusal is not None:
            return Applied("refused", control, refusal)
        cid = control["control_id"]
        if cid in self._seen:
            return Applied("refused", control, ControlRefusal.REPLAYED)
        self._remember(cid)
        if control["action"] == Action.ADD:
            if not signer.roles & self.config.add_roles:
                return Applied("refused", control, ControlRefusal.WRONG_ROLE)
            return self._add(control, now)
        if not signer.roles & self.config.lift_roles:
            return Applied("refused", control, ControlRefusal.WRONG_ROLE)
        return self._lift(control, signer.id)

    def _signer(self, c: Mapping[str, Any]) -> tuple[Any, ControlRefusal | None]:
        reviewer = self.registry.reviewer(c["reviewer_id"])
        if reviewer is None or reviewer.id != c["reviewer_id"]:
            return None, ControlRefusal.UNKNOWN_REVIEWER  # exact registered spelling only
        key = reviewer.keys.get(c["key_id"])
        if key is None:
            return None, ControlRefusal.UNKNOWN_KEY
        if key.revoked:
            return None, ControlRefusal.REVOKED_KEY
        signature = c.get("signature")
        if not isinstance(signature, bytes | bytearray) or len(signature) != _SIGNATURE_LEN:
            return None, ControlRefusal.BAD_SIGNATURE
        try:
            key.public_key.verify(bytes(signature), control_bytes(c))
        except ValueError:
            return None, ControlRefusal.MALFORMED
        except InvalidSignature:
            return None, ControlRefusal.BAD_SIGNATURE
        return reviewer, None

    def _add(self, c: Mapping[str, Any], now: int) -> Applied:
        if c["until"] and c["until"] <= now:
            return Applied("refused", c, ControlRefusal.EXPIRED)
        qid = c["quarantine_id"]
        if qid in self._lifted:
            return Applied("refused", c, ControlRefusal.NOT_IN_FORCE)
        if len(self._q) >= self._max_q:
            return Applied("refused", c, ControlRefusal.TOO_MANY)
        q = Quarantine(
            qid,
            c["subject_type"],
            c["subject"],
            c["mode"],
            c["until"],
            c["reason"],
            c["reviewer_id"],
            c["issued_at"],
        )
        self._q[qid] = q
        self._index.setdefault((q.subject_type, skeleton_id(q.subject)), set()).add(qid)
        result = Applied("added", c, quarantine=q)
        # Votes that came first (another partition, or a compacted log's order).
        for vote in self._pending.pop(qid, []):
            self._pending_n -= 1
            reviewer = self.registry.reviewer(vote["reviewer_id"])
            if reviewer is not None and qid in self._q:
                self._lift(vote, reviewer.id)
        if qid not in self._q:
            return Applied("lifted", c, quarantine=q)
        return result

    def _lift(self, c: Mapping[str, Any], reviewer_id: str) -> Applied:
        qid = c["quarantine_id"]
        q = self._q.get(qid)
        if q is None:
            if qid in self._lifted:
                return Applied("refused", c, ControlRefusal.NOT_IN_FORCE)
            if self._pending_n >= self._max_pending:
                return Applied("refused", c, ControlRefusal.TOO_MANY)
            self._pending.setdefault(qid, []).append(dict(c))
            self._pending_n += 1
            return Applied("pending", c)
        if (c["subject_type"], skeleton_id(c["subject"])) != (
            q.subject_type,
            skeleton_id(q.subject),
        ):
            return Applied("refused", c, ControlRefusal.SUBJECT_MISMATCH, q)
        if q.subject_type == SubjectType.ACTOR and skeleton_id(reviewer_id) == skeleton_id(
            q.subject
        ):
            return Applied("refused", c, ControlRefusal.SELF_LIFT, q)
        # A vote whose key is no longer live (revoked or removed since it was counted)
        # is withdrawn, as the gate withdraws decisions: its reviewer may vote again.
        for rid in [r for r in q.lift_votes if not self._key_live(r, q.lift_keys.get(r))]:
            del q.lift_votes[rid]
            q.lift_keys.pop(rid, None)
        if reviewer_id in q.lift_votes:
            return Applied("refused", c, ControlRefusal.DUPLICATE_VOTE, q)
        q.lift_votes[reviewer_id] = c["control_id"]
        q.lift_keys[reviewer_id] = c["key_id"]
        if len(q.lift_votes) < self.config.lift_approvals:
            return Applied("lift_counted", c, quarantine=q)
        self._drop(qid)
        self._lifted[qid] = None
        while len(self._lifted) > self._max_seen:
            self._lifted.popitem(last=False)
        return Applied("lifted", c, quarantine=q)

    def _key_live(self, reviewer_id: str, key_id: str | None) -> bool:
        reviewer = self.registry.reviewer(reviewer_id)
        key = reviewer.keys.get(key_id) if reviewer is not None and key_id else None
        return key is not None and not key.revoked

    def _drop(self, qid: str) -> None:
        q = self._q.pop(qid, None)
        if q is None:
            return
        key = (q.subject_type, skeleton_id(q.subject))
        ids = self._index.get(key)
        if ids is not None:
            ids.discard(qid)
            if not ids:
                del self._index[key]

    def _remember(self, cid: str) -> None:
        self._seen[cid] = None
        while len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
