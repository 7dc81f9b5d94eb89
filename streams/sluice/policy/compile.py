"""Compile a parsed rule's CEL condition, and check what it refers to.

Each condition is compiled once; :func:`sluice.policy.analysis.analyze` says what it
reads, which names the checks here (unknown variables, event fields, lists and limits)
and the engine's fast paths (flat variables, Python-decided predicates) rely on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import cel

from sluice.policy.analysis import analyze, rewrite_event_fields
from sluice.policy.celparse import kind_constraint
from sluice.policy.fastpath import compile_fast
from sluice.policy.model import EVENT_FIELDS, Problem
from sluice.policy.parse import Outcome
from sluice.policy.rule import CMP_OPS, FLAT_PREFIX, IN_OP, NOTNULL_OP, CompiledRule
from sluice.policy.velocity import VAR_PREFIX, rewrite_velocity

__all__ = ["compile_default", "compile_rule"]

log = logging.getLogger(__name__)

_VARIABLES = frozenset({"event", "findings", "lists", "limits", "now"})


def _cel_message(exc: Exception) -> str:
    """The CEL library's (multi-line) message as one line, without the expression text."""
    text = str(exc)
    m = re.search(r"ERROR:\s*<input>:(\d+:\d+):\s*([^\n]*)", text)
    if m is not None:
        return f"at {m.group(1)}: {m.group(2).strip()}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def compile_rule(
    name: str,
    source: str,
    outcome: Outcome,
    lists: Mapping[str, Any],
    limits: Mapping[str, Any],
    problems: list[Problem],
) -> CompiledRule | None:
    """The compiled rule (None when its CEL does not compile); problems appended.

    ``velocity.<dim>("<window>")`` calls are compiled as flat variables
    (:mod:`sluice.policy.velocity`); ``CompiledRule.source`` keeps the text as written.
    """
    written = source
    source, velocity, vproblems = rewrite_velocity(source)
    if vproblems:
        problems.extend(Problem(msg, name) for msg in vproblems)
        return None
    try:
        program = cel.compile(source)
    except Exception as exc:  # the library raises ValueError; be broad, report one line
        problems.append(Problem(f"CEL error {_cel_message(exc)}", name))
        return None
    info = analyze(source)
    variables = set(program.variables()) - {v.var for v in velocity}
    unknown = variables - _VARIABLES - (info.bound if info.sure else set(variables))
    for var in sorted(unknown):
        problems.append(
            Problem(
                f"unknown variable {var!r} (use event, findings, lists, limits, now, velocity)",
                name,
            )
        )
    if info.sure:
        for fld in sorted((info.event_fields or frozenset()) - EVENT_FIELDS):
            problems.append(Problem(f"unknown event field {fld!r}", name))
        for section, item in sorted(info.named):
            table = lists if section == "lists" else limits
            if item not in table:
                problems.append(Problem(f"{section}.{item} is not defined in {section}:", name))
    rule = CompiledRule(
        name=name,
        source=written,
        outcome=outcome[0],
        reason=outcome[1],
        hold=outcome[2],
        program=program,
        info=info,
        velocity=velocity,
    )
    if not unknown and not velocity:  # velocity counts are not event fields: CEL decides
        rule.fast = compile_fast(source, lists, limits)
    if not info.sure:  # escapes etc.: the parser of the compiled form still finds the kinds
        kinds = kind_constraint(source)
        if kinds is not None:
            rule.constraints = (("kind", kinds),)
            rule.preds = (("kind", IN_OP, kinds),)
    if info.sure:
        rule.uses_findings = "findings" in variables
        rule.uses_now = "now" in variables
        if info.event_fields is not None:
            rule.fields = tuple(sorted(info.event_fields))
            flat_source = rewrite_event_fields(source, FLAT_PREFIX)
            if flat_source is not None:
                try:
                    rule.flat = cel.compile(flat_source)
                except Exception:  # never expected; the map form is always correct
                    log.debug("flat form did not compile", extra={"rule": name})
        rule.constraints = tuple(sorted(info.constraints.items()))
        preds = [_resolve(p, limits) for p in info.predicates]
        rule.preds = tuple(p for p in preds if p is not None)
        rule.pure = bool(preds) and all(p is not None for p in preds)
    if velocity and info.sure:
        rule.vpred = _velocity_pred(source, limits)
    return rule


def _velocity_pred(source: str, limits: Mapping[str, Any]) -> tuple[str, int, float] | None:
    """``<velocity variable> <op> <number | limits.name>`` as the whole condition."""
    m = re.fullmatch(
        r"\s*\(?\s*(" + VAR_PREFIX + r"\w+)\s*(<=|>=|<|>)\s*"
        r"(-?\d+(?:\.\d+)?|limits\s*\.\s*[A-Za-z_]\w*)\s*\)?\s*",
        source,
    )
    if m is None:
        return None
    rhs = m.group(3)
    if rhs.startswith("limits"):
        bound = limits.get(rhs.split(".", 1)[1].strip())
        if type(bound) is not float and type(bound) is not int:
            return None
    else:
        bound = rhs
    return (m.group(1), CMP_OPS[m.group(2)], float(bound))


def _resolve(pred: tuple[str, str, Any] | None, limits: Mapping[str, Any]) -> Any:
    """An analysis predicate as the engine's (field, op, arg), or None if not decidable."""
    if pred is None:
        return None
    kind, fld, arg = pred
    if kind == "in":
        return (fld, IN_OP, arg)
    if kind == "notnull":
        return (fld, NOTNULL_OP, None)
    op, bound = arg
    if isinstance(bound, tuple):  # ("limits", name): only a plain number is decidable
        bound = limits.get(bound[1])
        if type(bound) is not float:
            return None
    return (fld, CMP_OPS[op], float(bound))


def compile_default(outcome: Outcome) -> CompiledRule:
    """The ``default:`` as a rule that always matches."""
    return CompiledRule(
        name="default",
        source="true",
        outcome=outcome[0],
        reason=outcome[1],
        hold=outcome[2],
        program=cel.compile("true"),
        info=analyze("true"),
        pure=True,
    )
