"""Probe evaluation: type errors that only show when a condition runs.

Each compiled condition runs on synthetic events (every kind, with every optional
field set and with them all null, with and without findings); non-bool results and
type errors become problems, so ``sluice policy check`` reports them before an event
meets them (where they would fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.models.event import StepKind
from sluice.policy.model import Problem
from sluice.policy.rule import CompiledRule
from sluice.policy.velocity import sample_value

__all__ = ["probe"]

_KINDS = tuple(k.value for k in StepKind)


def _samples() -> list[tuple[str, dict[str, Any]]]:
    base: dict[str, Any] = {
        "event_id": "00000000-0000-4000-8000-000000000000",
        "workflow_id": "wf",
        "run_id": "run",
        "step": "step",
        "actor": {"id": "agent", "type": "AGENT", "roles": ["role"]},
        "action": "act",
        "data_classification": "INTERNAL",
        "occurred_at": 1_700_000_000_000,
    }
    full = {
        "on_behalf_of": "user",
        "resource": "res",
        "content": "text",
        "arguments": {},
        "model": {"name": "m", "version": "1", "provider": "p"},
        "confidence": 0.9,
        "cost_usd": 0.01,
        "trace_id": "t",
        "attributes": {},
    }
    sparse = dict.fromkeys(full)
    sparse["attributes"] = {}
    out = []
    for kind in _KINDS:
        out.append(("full", {**base, **full, "kind": kind}))
        out.append(("sparse", {**base, **sparse, "kind": kind}))
    return out


_PROBE_FINDINGS = [
    {
        "kind": k,
        "detector": "probe",
        "field": "content",
        "severity": "high",
        "confidence": 0.9,
        "action": "flagged",
    }
    for k in ("secret", "pii", "markup", "sql_injection", "prompt_injection", "unicode")
]


def probe(
    rules: Sequence[CompiledRule],
    lists: Mapping[str, Any],
    limits: Mapping[str, Any],
    problems: list[Problem],
) -> None:
    """Run each condition on synthetic events; report non-bool results and type errors."""
    samples = _samples()
    for rule in rules:
        nonbool: str | None = None
        type_error = null_error = False
        for variant, event in samples:
            for findings in ([], _PROBE_FINDINGS):
                activation = {
                    "event": event,
                    "findings": findings,
                    "lists": lists,
                    "limits": limits,
                    "now": 1_700_000_000_000,
                }
                for ref in rule.velocity:
                    activation[ref.var] = sample_value(ref)
                try:
                    out = rule.program.execute(activation)
                except TypeError:
                    if variant == "full":
                        type_error = True
                    else:
                        null_error = True
                    continue
                except Exception:  # noqa: S112 - missing keys, bad conversions: run-time only
                    continue
                if not isinstance(out, bool) and nonbool is None:
                    nonbool = type(out).__name__
        if nonbool is not None:
            problems.append(Problem(f"condition gives a {nonbool}, not a bool", rule.name))
        if type_error:
            problems.append(
                Problem("type error (no such overload) on a complete sample event", rule.name)
            )
        elif null_error:
            problems.append(
                Problem(
                    "type error when an optional field is null: guard it with `!= null`"
                    + (
                        " (until then such events do not match)"
                        if rule.outcome == "allow"
                        else f" (until then such events fail closed: {rule.outcome})"
                    ),
                    rule.name,
                    "warning",
                )
            )
