"""Queue entries for the console, cached so a page with 10,000 open holds stays fast.

:func:`~sluice.gate.queue.entry_view` is the same view ``sluice review list`` prints;
building it for every hold on every request costs ~100 µs each. An entry only changes
when its hold, its votes or the registry change, so entries are cached per event under
that key and only the clock-dependent fields (time left, expired) are refreshed per
request. The registry file is re-read only when its mtime or size changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sluice.gate.queue import entry_view

if TYPE_CHECKING:
    from sluice.gate.queue import QueueState
    from sluice.gate.reviewers import Registry

__all__ = ["EntryCache", "QueueView", "RegistryFile", "filter_entries", "refresh_time"]


class RegistryFile:
    """A reviewers registry file, re-read when it changes (None path: no registry)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._registry: Registry | None = None
        #: Bumped on every (re)load: part of the entry cache key.
        self.generation = 0

    def get(self) -> Registry | None:
        """The registry as the file is now.

        Raises:
            ConfigError: the file is missing or fails its checks.
        """
        from sluice.gate.reviewers import load_registry

        if self.path is None:
            return None
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp or self._registry is None:
            self._registry = load_registry(self.path)
            self._stamp = stamp
            self.generation += 1
        return self._registry


class EntryCache:
    """``entry_view`` per open hold, rebuilt only when its inputs change."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def entries(
        self, state: QueueState, now_ms: int, registry: Registry | None, generation: int = 0
    ) -> list[dict[str, Any]]:
        """Open (held, not released) entries, unsorted; time left as of ``now_ms``.

        ``generation`` identifies the registry's version (:attr:`RegistryFile.generation`).
        """
        out = []
        live = set()
        for eid, held in state.held.items():
            if eid in state.released:
                continue
            live.add(eid)
            votes = state.votes.get(eid, ())
            # What the entry depends on (an escalation changes roles and expiry).
            key = (
                held["content_hash"],
                held["expires_at"],
                tuple(held["roles"]),
                len(votes),
                generation,
            )
            hit = self._cache.get(eid)
            if hit is None or hit[0] != key:
                entry = entry_view(held, votes, now_ms, registry)
                self._cache[eid] = (key, entry)
            else:
                entry = hit[1]
                left = int(entry["expires_at"]) - now_ms
                entry["time_left_s"] = round(max(left, 0) / 1000.0, 3)
                entry["expired"] = left <= 0
            out.append(entry)
        if len(self._cache) > len(live):
            for eid in set(self._cache) - live:
                del self._cache[eid]
        return out


def refresh_time(entries: list[dict[str, Any]], now_ms: int) -> None:
    """Set time left and expired of ``entries`` as of ``now_ms``."""
    for entry in entries:
        left = int(entry["expires_at"]) - now_ms
        entry["time_left_s"] = round(max(left, 0) / 1000.0, 3)
        entry["expired"] = left <= 0


class QueueView:
    """The sorted open entries, counts per role and filter options, rebuilt only when
    the queue (its feed version) or the registry changed: between changes a page costs
    the rows it shows, not the number of holds."""

    def __init__(self) -> None:
        self.entries = EntryCache()
        self._key: tuple[int, int, int] | None = None
        self._view: tuple[list[dict[str, Any]], dict[str, int], dict[str, list[str]]] = (
            [],
            {},
            {},
        )

    def get(
        self,
        state: QueueState,
        version: int,
        now_ms: int,
        registry: Registry | None,
        generation: int,
    ) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, list[str]]]:
        """(entries least time left first, open holds per role, filter options).
        Time left is current only on the entries the caller refreshes
        (:func:`refresh_time`)."""
        key = (id(state), version, generation)
        if key == self._key:
            return self._view
        entries = self.entries.entries(state, now_ms, registry, generation)
        entries.sort(key=lambda e: (e["expires_at"], e["event_id"]))
        counts: dict[str, int] = {}
        options: dict[str, set[str]] = {n: set() for n in ("role", "rule", "kind", "workflow")}
        for e in entries:
            for role in e["roles"]:
                counts[role] = counts.get(role, 0) + 1
            options["role"].update(e["roles"])
            options["rule"].add(e["rule"])
            options["kind"].add(e["kind"])
            options["workflow"].add(e["workflow_id"])
        self._key = key
        self._view = (entries, counts, {k: sorted(v) for k, v in options.items()})
        return self._view


def filter_entries(
    entries: list[dict[str, Any]], filters: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Entries matching the queue filters (role, rule, kind, workflow, min risk)."""
    out = entries
    if filters.get("role"):
        out = [e for e in out if filters["role"] in e["roles"]]
    for name, field in (("rule", "rule"), ("kind", "kind"), ("workflow", "workflow_id")):
        if filters.get(name):
            out = [e for e in out if e[field] == filters[name]]
    if filters.get("risk"):
        try:
            floor = float(filters["risk"])
        except ValueError:
            floor = 0.0
        out = [e for e in out if float(e["risk"]["score"]) >= floor]
    return out
