"""A compiled rule, and the condition conjuncts Python decides without CEL.

:mod:`sluice.policy.compile` builds :class:`CompiledRule`; the engine evaluates it.
``preds`` are top-level conjuncts of the condition that Python decides exactly
(``event.kind in [...]``, ``event.f != null``, ``event.f < 0.7``): :func:`check_preds`
answers for them, and the engine hands CEL only what they leave undecided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cel

from sluice.policy.analysis import ConditionInfo
from sluice.policy.model import Assessment, HoldSpec
from sluice.policy.velocity import VelocityRef

__all__ = [
    "CMP_OPS",
    "FLAT_PREFIX",
    "IN_OP",
    "NOTNULL_OP",
    "CompiledRule",
    "Phases",
    "check_preds",
    "check_vpred",
    "failed_reason",
    "may_be_kind",
    "phases",
]

#: Prefix of the flat variables that stand for ``event.<field>`` in rewritten programs.
FLAT_PREFIX = "sluice_event_"

_MISSING = object()

# Predicate operators (see CompiledRule.preds).
_IN, _NOTNULL, _LT, _LE, _GT, _GE = range(6)
CMP_OPS = {"<": _LT, "<=": _LE, ">": _GT, ">=": _GE}
IN_OP, NOTNULL_OP = _IN, _NOTNULL


@dataclass(slots=True, eq=False)
class CompiledRule:
    """One rule, compiled once at load."""

    name: str
    source: str
    outcome: str
    reason: str | None
    hold: HoldSpec | None
    #: The condition over ``event``/``findings``/``lists``/``limits``/``now``.
    program: cel.Program
    info: ConditionInfo
    #: The same condition over flat ``sluice_event_<field>`` variables, when exact.
    flat: cel.Program | None = None
    uses_findings: bool = True
    uses_now: bool = True
    #: Event fields read, in a fixed order (None: the whole event).
    fields: tuple[str, ...] | None = None
    #: Enum conjuncts, ((field, allowed values), ...): the index by kind uses them.
    constraints: tuple[tuple[str, frozenset[str]], ...] = ()
    #: Conjuncts Python decides exactly, ((field, op, arg), ...); ops: ``IN_OP``,
    #: ``NOTNULL_OP`` and the values of ``CMP_OPS``.
    preds: tuple[tuple[str, int, Any], ...] = ()
    #: True when ``preds`` is the whole condition.
    pure: bool = False
    memo: dict[Any, Any] | None = None
    #: The assessment for a match with no findings and no errors (built once).
    clean: Assessment | None = None
    #: The condition compiled to Python (:mod:`sluice.policy.fastpath`), when it can be:
    #: (event, findings) → bool, or raises ``Fallback`` (then CEL decides).
    fast: Callable[[Mapping[str, Any], list[dict[str, Any]]], bool] | None = None
    #: ``velocity.<dim>("<window>")`` windows the condition reads (flat variables).
    velocity: tuple[VelocityRef, ...] = ()
    #: The whole condition is ``velocity.<dim>("<w>") <op> <number>``: (variable, op
    #: from ``CMP_OPS``, bound), decided in Python (no CEL) when the count is a number.
    vpred: tuple[str, int, float] | None = None


def check_vpred(vpred: tuple[str, int, float], counts: Mapping[str, Any] | None) -> bool | None:
    """The rule's velocity comparison, or None when the count is missing or not a
    number (then CEL decides, and a missing count fails closed there)."""
    value = (counts or {}).get(vpred[0])
    if type(value) is not int and type(value) is not float:
        return None
    op, bound = vpred[1], vpred[2]
    if op == _LT:
        return value < bound
    if op == _LE:
        return value <= bound
    if op == _GT:
        return value > bound
    return value >= bound


def check_preds(preds: tuple[tuple[str, int, Any], ...], event: Mapping[str, Any]) -> bool | None:
    """False when a conjunct in ``preds`` is false; True when every one is decided true;
    None when none is false but some value is not plain (CEL must decide, and count
    errors)."""
    decided = True
    for fld, op, arg in preds:
        value = event.get(fld, _MISSING)
        if op == _IN:
            if type(value) is str:
                if value not in arg:
                    return False
                continue
        elif op == _NOTNULL:
            if value is None:
                return False
            if value is not _MISSING:
                continue
        elif type(value) is float and value == value:  # NaN: CEL errs on it (fails closed)
            if not (
                value < arg
                if op == _LT
                else value <= arg
                if op == _LE
                else value > arg
                if op == _GT
                else value >= arg
            ):
                return False
            continue
        decided = False  # not a plain value: let CEL decide (and count errors)
    return decided or None


# -- helpers of the engine (sluice.policy.engine) --------------------------------------

Phases = tuple[tuple[CompiledRule, ...], tuple[CompiledRule, ...], tuple[CompiledRule, ...]]


def phases(rules: Sequence[CompiledRule], *, without_findings: bool = False) -> Phases:
    """(deny rules, hold rules, allow rules), each in file order; ``without_findings``
    drops the rules that cannot match an event without findings."""
    if without_findings:
        rules = [r for r in rules if not (r.info.sure and r.info.needs_findings)]
    return (
        tuple(r for r in rules if r.outcome == "deny"),
        tuple(r for r in rules if r.outcome == "hold"),
        tuple(r for r in rules if r.outcome == "allow"),
    )


def may_be_kind(rule: CompiledRule, kind: str) -> bool:
    return all(kind in vals for f, vals in rule.constraints if f == "kind")


def failed_reason(reason: str | None, names: tuple[str, ...] = ()) -> str:
    """A reason that says the decision came from a condition that failed (fail closed)."""
    which = f" ({', '.join(names)})" if names else ""
    note = f"condition failed at run time{which}: fail closed"
    return f"{reason}; {note}" if reason else note
