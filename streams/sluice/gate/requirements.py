"""Quorum arithmetic for the gate: requirement groups, levels and role matching.

Pure functions over plain tuples (no registry, no entries): :mod:`sluice.gate.quorum`
builds the groups of an entry's current phase and the voters from counted votes, and
asks here whether (and up to which level) they are complete.

A requirement group is ``(roles, count, level)``: ``count`` distinct reviewers, each
holding one of ``roles``. A voter is ``(roles it holds, level it was counted at)``; it
fills at most one slot, and only slots at its level or below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Group", "current_level", "match_count", "requirement_tuples"]

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


def current_level(
    groups: Sequence[Group], voters: Sequence[tuple[frozenset[str], int]]
) -> int | None:
    """Lowest level of ``groups`` whose slots (with every lower level's) the voters
    cannot all fill; None when every group is complete (quorum met)."""
    for level in sorted({g[2] for g in groups}):
        upto = [g for g in groups if g[2] <= level]
        if match_count(upto, voters) < sum(g[1] for g in upto):
            return level
    return None


def requirement_tuples(raw: Iterable[Any]) -> tuple[tuple[str, int, int], ...]:
    """``(role, count, level)`` tuples from HeldEvent maps (``{role, count, level}``,
    level defaulting to 1) or from tuples/lists as the changelog stores them."""
    out = []
    for r in raw:
        if isinstance(r, dict):
            out.append((str(r["role"]), int(r["count"]), int(r.get("level") or 1)))
        else:
            role, count, level = r
            out.append((str(role), int(count), int(level)))
    return tuple(out)
