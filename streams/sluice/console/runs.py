"""The steps of each run (``run_id``) the console has seen, in bounded memory.

The console already follows ``workflow.approvals`` and the outcome topics
(:mod:`sluice.console.state`); every HeldEvent and Outcome carries its run id, kind,
rule and when the event was received. :class:`RunIndex` keeps, per run, one step per
event id (its latest status: held, then approved/rejected), so a detail page can show
the earlier steps of the same run without reading anything more. Memory is bounded:
at most ``max_runs`` runs (the least recently updated run is dropped first) and
``max_steps`` steps per run (the oldest dropped first). Only ids, kinds, rules and
statuses are kept: never event content.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RunIndex", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a run as the topics tell it."""

    event_id: str
    kind: str
    #: held | approved | rejected
    status: str
    rule: str | None
    #: When the event was received (ms since the epoch; ordering within the run).
    at_ms: int


class RunIndex:
    """run_id → its steps, bounded in runs and in steps per run."""

    def __init__(self, max_runs: int = 20_000, max_steps: int = 50) -> None:
        self.max_runs = max_runs
        self.max_steps = max_steps
        self._runs: OrderedDict[str, dict[str, Step]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._runs)

    def add(self, record: Mapping[str, Any], status: str) -> None:
        """Note a decoded HeldEvent (``status`` "held") or Outcome ("approved"/"rejected").

        A hold does not replace a final status already seen (topics are followed
        concurrently, an Outcome may come first).
        """
        run_id, event_id = record.get("run_id"), record.get("event_id")
        if not isinstance(run_id, str) or not isinstance(event_id, str):
            return
        at = record.get("received_at") or record.get("held_at") or record.get("decided_at")
        steps = self._runs.get(run_id)
        if steps is None:
            steps = self._runs[run_id] = {}
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(run_id)
        old = steps.get(event_id)
        if old is not None and status == "held" and old.status != "held":
            return
        steps[event_id] = Step(
            event_id=event_id,
            kind=str(record.get("kind") or ""),
            status=status,
            rule=record.get("rule"),
            at_ms=at if isinstance(at, int) else (old.at_ms if old else 0),
        )
        if len(steps) > self.max_steps:
            oldest = min(steps.values(), key=lambda s: (s.at_ms, s.event_id))
            del steps[oldest.event_id]

    def steps(self, run_id: str) -> list[Step]:
        """The run's steps, oldest first."""
        return sorted(self._runs.get(run_id, {}).values(), key=lambda s: (s.at_ms, s.event_id))

    def earlier(self, run_id: str, event_id: str, at_ms: int) -> list[Step]:
        """The run's steps received before ``at_ms`` (the event itself excluded)."""
        return [s for s in self.steps(run_id) if s.event_id != event_id and s.at_ms <= at_ms]
