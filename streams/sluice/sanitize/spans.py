"""Candidate hits and their spans: overlap tests, merging, and resolution per family.

A :class:`Cand` is one validated hit in view coordinates. :func:`resolve` keeps one hit
per span and family (the rule with the lowest priority number first, then the longest),
so a span is redacted once, and never again inside an existing placeholder.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

import re2

from sluice.models.finding import FindingKind
from sluice.sanitize.base import Rule

__all__ = ["Cand", "Spans", "merged", "resolve"]

_PLACEHOLDER_RE = re2.compile(r"\[REDACTED:[a-z0-9_]+:[0-9a-f]{16}\]")
_REDACTING = (FindingKind.SECRET, FindingKind.PII)
#: Families in resolution order: secrets claim spans before PII may.
_FAMILIES = (
    FindingKind.SECRET,
    FindingKind.PII,
    FindingKind.MARKUP,
    FindingKind.SQL_INJECTION,
    FindingKind.PROMPT_INJECTION,
    # (only matching.LOOKALIKE_CAP: other Unicode findings come from the unicode stage)
    FindingKind.UNICODE,
)


@dataclass(slots=True)
class Cand:
    """One validated hit of ``rule``: its span in view coordinates and matched value."""

    rule: Rule
    start: int  # view coordinates
    end: int
    confidence: float
    value: str


class Spans:
    """Non-overlapping accepted spans with O(log n) overlap tests (attackers control n)."""

    __slots__ = ("ends", "starts")

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for st, en in sorted(spans):
            self.starts.append(st)
            self.ends.append(en)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start)
        if i > 0 and self.ends[i - 1] > start:
            return True
        return i < len(self.starts) and self.starts[i] < end

    def contains(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def merged(cands: Iterable[Cand]) -> list[tuple[int, int]]:
    """The union of the candidates' spans as sorted, non-overlapping spans."""
    out: list[tuple[int, int]] = []
    for st, en in sorted((c.start, c.end) for c in cands):
        if out and st < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], en))
        else:
            out.append((st, en))
    return out


def resolve(view: str, cands: list[Cand]) -> list[Cand]:
    """Drop hits within existing placeholders; one hit per span per family (specific first)."""
    if not cands:
        return []
    blocked = Spans()
    if "[REDACTED:" in view:
        blocked = Spans(m.span() for m in _PLACEHOLDER_RE.finditer(view))
    by_kind: dict[FindingKind, list[Cand]] = {}
    for c in cands:
        by_kind.setdefault(c.rule.kind, []).append(c)
    accepted: list[Cand] = []
    secret_spans = Spans()
    for kind in _FAMILIES:
        group = by_kind.get(kind)
        if not group:
            continue
        group.sort(key=lambda c: (c.rule.priority, -(c.end - c.start), c.start))
        taken: dict[str, Spans] = {}
        for c in group:
            if kind in _REDACTING:
                # A hit that is exactly an earlier placeholder is not redacted again; one
                # that extends past it is (a forged placeholder must not shield a secret).
                if blocked.starts and blocked.contains(c.start, c.end):
                    continue
                if kind is FindingKind.PII and secret_spans.overlaps(c.start, c.end):
                    continue
                # Redacting families: no two hits may overlap (one replacement per span).
                scope = "*"
            else:
                scope = c.rule.detector
            spans = taken.get(scope)
            if spans is None:
                spans = taken[scope] = Spans()
            if spans.overlaps(c.start, c.end):
                continue
            spans.add(c.start, c.end)
            accepted.append(c)
            if kind is FindingKind.SECRET:
                secret_spans.add(c.start, c.end)
    return accepted
