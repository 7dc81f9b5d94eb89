"""``sluice policy diff``: stored decisions replayed through a candidate, as a table. Pure.

Input: :class:`Stored` events, one per event id, as intake assessed them: the sanitized
event and the findings (exactly what the live policy was given), with the live
decision stored beside them (outcome, first deciding rule, policy hash, and for a hold
its roles and approval count). :func:`replay` assesses each with the candidate (at the
time the event was received, for rules that read ``now``) and counts the changes by
(live rule, live outcome, candidate rule, candidate outcome); :func:`format_report` is
the table, :meth:`DiffReport.to_json` the ``--json`` object.

With a ``live`` policy given, the stored decision is ignored and both policies are
assessed: the comparison is then the worker's (:func:`sluice.shadow.compare.disagreement`,
every deciding rule and the whole hold spec). Without it the stored decision names only
the first deciding rule, so a change is an outcome, a first rule, or (both holding under
the same first rule) the roles or approval count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.shadow.compare import EFFECTS, disagreement, effect
from sluice.velocity import WindowCounter

__all__ = ["DiffReport", "Replayer", "Stored", "format_report", "replay"]


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored intake decision and the sanitized event it was made on."""

    event_id: str
    kind: str
    #: allow | hold | deny.
    live_outcome: str
    live_rule: str
    live_policy_hash: str
    #: The decoded sanitized WorkflowEvent (what the live policy assessed).
    event: Mapping[str, Any]
    #: The findings as stored (Avro dicts; ``findings`` in rules sees the same fields).
    findings: Sequence[Mapping[str, Any]]
    #: When intake received it (epoch ms): ``now`` for the candidate's rules.
    at: int
    #: A hold's (sorted roles, approvals); None otherwise.
    hold: tuple[tuple[str, ...], int] | None = None


#: (live rule, live outcome, candidate rule, candidate outcome).
RowKey = tuple[str, str, str, str]


@dataclass(slots=True)
class DiffReport:
    """What replaying the stored events through the candidate would have changed."""

    candidate_hash: str
    since_ms: int
    until_ms: int
    replayed: int = 0
    #: Changed events by (live rule, live outcome, candidate rule, candidate outcome).
    rows: dict[RowKey, int] = field(default_factory=dict)
    #: Changed events by :data:`~sluice.shadow.compare.EFFECTS` name.
    effects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EFFECTS, 0))
    #: Live policy hashes of the stored decisions, with their counts.
    live_hashes: dict[str, int] = field(default_factory=dict)
    #: Intake decisions in the audit trail for the window whose event is not stored.
    not_replayable: int = 0
    #: Intake decisions the audit trail records for the window (None: not read).
    audited: int | None = None
    #: Records that did not decode (left out).
    undecodable: int = 0
    #: ``stored`` (the decisions as recorded) or the live policy file's hash.
    live: str = "stored"

    @property
    def changed(self) -> int:
        """Events the candidate would decide differently."""
        return sum(self.rows.values())

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object (rows sorted by count, then names)."""
        return {
            "candidate_policy_hash": self.candidate_hash,
            "live": self.live,
            "live_policy_hashes": self.live_hashes,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "replayed": self.replayed,
            "changed": self.changed,
            "effects": self.effects,
            "audited": self.audited,
            "not_replayable": self.not_replayable,
            "undecodable": self.undecodable,
            "rows": [
                {
                    "live_rule": k[0],
                    "live_outcome": k[1],
                    "candidate_rule": k[2],
                    "candidate_outcome": k[3],
                    "events": n,
                }
                for k, n in _sorted_rows(self.rows)
            ],
        }


def _sorted_rows(rows: Mapping[RowKey, int]) -> list[tuple[RowKey, int]]:
    return sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))


def _stored_change(s: Stored, c: Any) -> bool:
    if s.live_outcome != c.outcome or s.live_rule != c.rule:
        return True
    if s.hold is not None and c.hold is not None:
        return s.hold != (tuple(sorted(c.hold.roles)), int(c.hold.approvals))
    return False


class Replayer:
    """Assesses stored events one at a time (a window can be large: nothing is kept but
    the counts) with ``candidate``, and with ``live`` when given."""

    def __init__(self, candidate: Any, *, since_ms: int, until_ms: int, live: Any = None) -> None:
        self.candidate = candidate
        self.live = live
        self.report = DiffReport(candidate.hash, since_ms, until_ms)
        if live is not None:
            self.report.live = live.hash
        # Velocity rules: counts recomputed from the replayed events themselves, in the
        # order read (an event read out of time order counts at its actor's latest time);
        # without them a velocity rule would fail closed and hold every replayed event.
        refs = set(getattr(candidate, "velocity", ()))
        refs |= set(getattr(live, "velocity", ()) if live is not None else ())
        self.counter = WindowCounter(refs) if refs else None
        self._swept = 0

    def add(self, s: Stored) -> None:
        """Replay one stored decision; count it when the candidate would change it."""
        report = self.report
        report.replayed += 1
        report.live_hashes[s.live_policy_hash] = report.live_hashes.get(s.live_policy_hash, 0) + 1
        findings = list(s.findings)
        kw: dict[str, Any] = {}
        counter = self.counter
        if counter is not None:
            kw["velocity"] = counter.observe(s.event, s.at, s.at)
            counter.commit()
            if s.at - self._swept > 60_000:
                counter.sweep(s.at)
                self._swept = s.at
        c = self.candidate.assess(s.event, findings, now_ms=s.at, **kw)
        if self.live is not None:
            a = self.live.assess(s.event, findings, now_ms=s.at, **kw)
            if disagreement(a, c) is None:
                return
            key: RowKey = (a.rule, a.outcome, c.rule, c.outcome)
        else:
            if not _stored_change(s, c):
                return
            key = (s.live_rule, s.live_outcome, c.rule, c.outcome)
        report.rows[key] = report.rows.get(key, 0) + 1
        report.effects[effect(key[1], key[3])] += 1


def replay(
    stored: Iterable[Stored],
    candidate: Any,
    *,
    since_ms: int,
    until_ms: int,
    live: Any = None,
) -> DiffReport:
    """Assess every stored event with ``candidate`` (and ``live`` when given); count changes."""
    r = Replayer(candidate, since_ms=since_ms, until_ms=until_ms, live=live)
    for s in stored:
        r.add(s)
    return r.report


_EFFECT_TEXT = {
    "newly_held": "would be held (live: not held)",
    "released": "would be released without review (live: held)",
    "newly_denied": "would be rejected (live: not rejected)",
    "newly_allowed": "would be approved (live: rejected)",
    "same_outcome": "same outcome, other rule or hold requirements",
}


def format_report(report: DiffReport, iso: Any = None) -> str:
    """The table ``sluice policy diff`` prints (``iso``: epoch ms → text, for the window)."""
    show = iso or str
    lines = [
        f"replayed {report.replayed} stored events from {show(report.since_ms)} to "
        f"{show(report.until_ms)} through candidate {report.candidate_hash[:12]} "
        f"(live: {report.live if report.live == 'stored' else report.live[:12]}): "
        f"{report.changed} would change",
    ]
    for name in EFFECTS:
        if report.effects.get(name):
            lines.append(f"  {report.effects[name]:>7}  {_EFFECT_TEXT[name]}")
    if report.rows:
        head = ("live rule", "live", "candidate rule", "candidate", "events")
        body = [(k[0], k[1], k[2], k[3], str(n)) for k, n in _sorted_rows(report.rows)]
        widths = [max(len(r[i]) for r in (head, *body)) for i in range(5)]
        lines.append("")
        for r in (head, *body):
            cells = [r[i].ljust(widths[i]) for i in range(4)] + [r[4].rjust(widths[4])]
            lines.append(f"{cells[0]}  {cells[1]}  ->  {cells[2]}  {cells[3]}  {cells[4]}")
    if report.audited is not None:
        lines.append("")
        lines.append(
            f"audit trail: {report.audited} intake decisions in the window; "
            f"{report.not_replayable} without a stored event (not replayed)"
        )
    if report.undecodable:
        lines.append(f"{report.undecodable} stored records did not decode (left out)")
    return "\n".join(lines)
