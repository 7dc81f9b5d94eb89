"""Bucketed sliding-window counts per actor, with undo and a changelog form.

One counter owns the actors of the repartition partitions its worker holds. Each actor
has buckets (``bucket_ms`` wide, epoch-aligned) of amounts per scope: ``a`` (all its
events), ``w:<workflow>``, ``r:<run>``, ``k:<kind>`` and ``s:<workflow>`` (spend).
A window of ``W`` at time ``t`` sums the buckets from the one holding ``t - W`` to the
one holding ``t``: it counts every event of the last ``W`` and at most one bucket
(``W / 30`` of the smallest window, or ``1/720`` of the largest if that is coarser) of
older ones. It never undercounts, so a threshold never fires late.

Time is the ingest time the router stamped (never the producer's ``occurred_at`` nor
its record timestamp), bounded: a time more than ``max_future_ms`` ahead of the
counter's own clock counts as that bound, and a time more than ``max_past_ms`` behind
the latest this actor has seen counts as that bound (a stale or skewed router cannot
put events into buckets already dropped, nor age them out early).

Every change in a batch keeps the actor's previous state (:meth:`WindowCounter.rollback`
puts it back when the transaction aborts); :meth:`WindowCounter.drain` gives the
changed actors' states to write to the compacted changelog in the same transaction
(a tombstone once an actor has nothing left in any window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from sluice.identity import fold_id
from sluice.policy.velocity import VelocityRef

__all__ = ["BUCKETS_PER_WINDOW", "MAX_BUCKETS", "WindowCounter", "actor_key"]

#: The smallest window is cut into this many buckets (resolution of every window).
BUCKETS_PER_WINDOW = 30
_MIN_BUCKET_MS = 1000
#: Most buckets one actor keeps (bounds memory and the work of every count).
MAX_BUCKETS = 720
#: Most scope entries (runs, workflows, kinds) one actor keeps over all its buckets;
#: beyond a bucket's share, a new scope's amount goes to that dimension's overflow
#: scope, which a count of any scope absent from the bucket adds (never an undercount).
#: Keeps an actor's changelog record far below Kafka's 1 MiB default record limit
#: whatever run or workflow ids its producer picks.
MAX_SCOPES = 8_000

_Buckets = dict[int, dict[str, float]]


def actor_key(actor_id: str) -> str:
    """The key an actor is counted (and repartitioned) under: :func:`sluice.identity.fold_id`
    (NFKC, case-folded, invisible characters and surrounding whitespace removed).

    ``ALICE``, ``alice``, the fullwidth spelling of ``alice`` and ``alice`` + U+200B are one
    actor for counting, so a runaway agent cannot spread its burst over spellings of its own
    id: the same fold producer authorization applies (a key bound to ``alice`` may send
    every one of them).
    """
    return fold_id(actor_id)


class _Actor:
    __slots__ = ("buckets", "latest")

    def __init__(self, buckets: _Buckets | None = None, latest: int = 0) -> None:
        self.buckets: _Buckets = buckets if buckets is not None else {}
        self.latest = latest

    def copy(self) -> _Actor:
        return _Actor({b: dict(v) for b, v in self.buckets.items()}, self.latest)


class WindowCounter:
    """Counts for the windows ``refs`` name; one instance per worker."""

    def __init__(
        self,
        refs: Iterable[VelocityRef],
        *,
        max_future_ms: int = 5_000,
        max_past_ms: int = 30_000,
    ) -> None:
        self.refs = tuple(sorted(set(refs)))
        if not self.refs:
            raise ValueError("a counter needs at least one window")
        smallest = min(r.window_ms for r in self.refs)
        largest = max(r.window_ms for r in self.refs)
        # At most MAX_BUCKETS per actor: a 1s window beside a 24h one gets 2-minute
        # buckets (counts never lower than the truth: a threshold fires early, not late).
        self.bucket_ms = max(
            _MIN_BUCKET_MS, smallest // BUCKETS_PER_WINDOW, -(-largest // MAX_BUCKETS)
        )
        #: Buckets older than this behind an actor's latest time are dropped.
        self.horizon_ms = max(r.window_ms for r in self.refs) + self.bucket_ms
        self.max_future_ms = max_future_ms
        self.max_past_ms = max_past_ms
        self._dims = frozenset(r.dim for r in self.refs)
        #: Scope entries one bucket takes before new scopes go to the overflow scope.
        self.bucket_scopes = max(8, MAX_SCOPES // (self.horizon_ms // self.bucket_ms + 2))
        self._actors: dict[str, _Actor] = {}
        #: State before this batch of each actor it changed (None: did not exist).
        self._undo: dict[str, _Actor | None] = {}

    def __len__(self) -> int:
        return len(self._actors)

    # -- counting --------------------------------------------------------------------

    def observe(
        self, event: Mapping[str, Any], at_ms: int, now_ms: int, *, actor: str | None = None
    ) -> dict[str, int | float]:
        """Count ``event`` at ingest time ``at_ms``; the window values including it.

        ``actor`` is the counting key (default: :func:`actor_key` of ``event.actor.id``).
        Returns ``{VelocityRef.var: value}`` for every window.
        """
        key = actor if actor is not None else actor_key(event["actor"]["id"])
        st = self._actors.get(key)
        if key not in self._undo:
            self._undo[key] = st.copy() if st is not None else None
        if st is None:
            st = self._actors[key] = _Actor()
        t = min(at_ms, now_ms + self.max_future_ms)
        if st.latest:
            t = max(t, st.latest - self.max_past_ms)
        if t > st.latest:
            st.latest = t
            self._expire(st)
        bucket = st.buckets.setdefault(t // self.bucket_ms, {})
        scopes = self._scopes(event)
        for scope, amount in scopes:
            if scope not in bucket and len(bucket) >= self.bucket_scopes and scope != "a":
                scope = _overflow(scope)
            bucket[scope] = bucket.get(scope, 0) + amount
        out: dict[str, int | float] = {}
        for ref in self.refs:
            scope = self._scope_of(ref.dim, event)
            lo = (t - ref.window_ms) // self.bucket_ms
            hi = t // self.bucket_ms
            total: float = 0
            over = _overflow(scope)
            for b, amounts in st.buckets.items():
                if lo <= b <= hi:
                    total += amounts[scope] if scope in amounts else amounts.get(over, 0)
            out[ref.var] = float(total) if ref.dim == "spend" else int(total)
        return out

    def _scopes(self, event: Mapping[str, Any]) -> list[tuple[str, float]]:
        dims = self._dims
        out: list[tuple[str, float]] = []
        if "actor" in dims:
            out.append(("a", 1))
        if "workflow" in dims:
            out.append(("w:" + str(event.get("workflow_id")), 1))
        if "run" in dims:
            out.append(("r:" + str(event.get("run_id")), 1))
        if "kind" in dims:
            out.append(("k:" + str(event.get("kind")), 1))
        if "spend" in dims:
            cost = event.get("cost_usd")
            if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0:
                out.append(("s:" + str(event.get("workflow_id")), float(cost)))
        return out

    @staticmethod
    def _scope_of(dim: str, event: Mapping[str, Any]) -> str:
        if dim == "actor":
            return "a"
        if dim == "workflow":
            return "w:" + str(event.get("workflow_id"))
        if dim == "run":
            return "r:" + str(event.get("run_id"))
        if dim == "kind":
            return "k:" + str(event.get("kind"))
        return "s:" + str(event.get("workflow_id"))

    def _expire(self, st: _Actor) -> None:
        oldest = (st.latest - self.horizon_ms) // self.bucket_ms
        for b in [b for b in st.buckets if b < oldest]:
            del st.buckets[b]

    def sweep(self, now_ms: int) -> int:
        """Forget actors with nothing inside any window at ``now_ms``; how many.

        Each one is changed in this batch (its tombstone goes out with :meth:`drain`).
        """
        idle = [k for k, st in self._actors.items() if st.latest + self.horizon_ms < now_ms]
        for key in idle:
            if key not in self._undo:
                self._undo[key] = self._actors[key]
            del self._actors[key]
        return len(idle)

    # -- transactions and changelog --------------------------------------------------

    def rollback(self) -> None:
        """Undo every change since the last :meth:`drain` (the batch aborted)."""
        for key, before in self._undo.items():
            if before is None:
                self._actors.pop(key, None)
            else:
                self._actors[key] = before
        self._undo = {}

    def commit(self) -> None:
        """Keep every change since the last drain, writing nothing (a counter of one
        process, without a changelog)."""
        self._undo = {}

    def drain(self) -> list[tuple[str, bytes | None]]:
        """The changelog records of this batch: (actor key, state or None: tombstone)."""
        out: list[tuple[str, bytes | None]] = []
        for key in self._undo:
            st = self._actors.get(key)
            out.append((key, None if st is None or not st.buckets else encode(st)))
        self._undo = {}
        return out

    def restore(self, key: str, value: bytes | None) -> None:
        """Apply one changelog record (read in offset order; a tombstone forgets)."""
        if value is None:
            self._actors.pop(key, None)
            return
        st = decode(value)
        if st is None:
            return  # not ours to understand: count from zero rather than fail
        self._actors[key] = st

    def forget(self, keys: Iterable[str]) -> None:
        """Drop actors (their partition was revoked; its new owner restores them)."""
        for key in keys:
            self._actors.pop(key, None)
            self._undo.pop(key, None)


def _overflow(scope: str) -> str:
    """The overflow scope of ``scope``'s dimension (``r:x`` → ``r\x00``: no id has NUL)."""
    return scope[0] + "\x00"


def encode(st: _Actor) -> bytes:
    """An actor's state as the changelog value (JSON: latest time, buckets)."""
    return orjson.dumps({"t": st.latest, "b": {str(b): v for b, v in st.buckets.items()}})


def decode(value: bytes) -> _Actor | None:
    """The state in a changelog value, or None when it is not a valid one."""
    try:
        doc = orjson.loads(value)
        latest = doc["t"]
        raw = doc["b"]
        if type(latest) is not int or not isinstance(raw, dict):
            return None
        buckets: _Buckets = {}
        for b, amounts in raw.items():
            if not isinstance(amounts, dict):
                return None
            buckets[int(b)] = {
                str(k): v
                for k, v in amounts.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        return _Actor(buckets, latest)
    except (ValueError, KeyError, TypeError):
        return None
