"""Rule-set checks: rules that can never decide, and what can still weaken a hold.

Under the precedence (deny > every hold > first allow, ``docs/policy.md``) a
rule is unreachable when another always decides first for every event it could match;
these checks use the static analysis of each condition
(:class:`~sluice.policy.analysis.ConditionInfo`), so they only report what is sure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sluice.policy.model import Problem
from sluice.policy.rule import CompiledRule

__all__ = ["check_rules"]


def _implies(later: dict[str, frozenset[str]], earlier: dict[str, frozenset[str]]) -> bool:
    """True when every event satisfying ``later``'s constraints satisfies ``earlier``'s."""
    return all(f in later and later[f] <= vals for f, vals in earlier.items())


def _preempts(earlier: CompiledRule, rule: CompiledRule) -> str | None:
    """Why ``earlier`` decides every event ``rule`` could match, or None."""
    norm = earlier.info.normalized
    if norm == "true":
        return f"rule '{earlier.name}' always matches"
    if norm == rule.info.normalized:
        return f"same condition as rule '{earlier.name}'"
    e = earlier.info
    if (
        rule.info.sure
        and e.sure
        and e.pure_constraints
        and e.constraints
        and _implies(rule.info.constraints, e.constraints)
    ):
        return f"rule '{earlier.name}' matches all it could"
    return None


def check_rules(
    rules: Sequence[CompiledRule], default: CompiledRule | None, problems: list[Problem]
) -> None:
    """Rules that can never decide under the precedence (deny > every hold > first allow).

    A deny is pre-empted by an earlier deny; a hold by any deny; an allow by any deny or
    hold (wherever it is in the file) and by an earlier allow.
    """
    for i, rule in enumerate(rules):
        if rule.info.normalized == "false":
            problems.append(Problem("never matches (when: false)", rule.name, "warning"))
            continue
        if rule.outcome == "deny":
            rivals = [r for r in rules[:i] if r.outcome == "deny"]
        elif rule.outcome == "hold":
            rivals = [r for r in rules if r.outcome == "deny"]
        else:
            rivals = [r for r in rules if r.outcome != "allow"] + [
                r for r in rules[:i] if r.outcome == "allow"
            ]
        for earlier in rivals:
            why = _preempts(earlier, rule)
            if why is None:
                continue
            if earlier.outcome == rule.outcome:
                problems.append(Problem(f"unreachable: {why} before it", rule.name))
            else:
                problems.append(
                    Problem(
                        f"unreachable: {earlier.outcome} rule '{earlier.name}' matches every"
                        f" event this rule could {rule.outcome}, and {earlier.outcome} wins"
                        " (deny > hold > allow)",
                        rule.name,
                    )
                )
            break
    always = next((r.name for r in rules if r.info.normalized == "true"), None)
    if always is not None:
        problems.append(
            Problem(f"never used: rule '{always}' always matches", "default", "warning")
        )
    _check_weakening(rules, default, problems)


#: Conversions that raise on text that is not a number (``double("20,000")``).
_CONVERSION = re.compile(r"(?<![\w.])(double|int|uint|timestamp|duration)\s*\(")
#: Event fields whose values are producer-supplied text (numbers and enums excluded).
_TEXT_FIELDS = (
    "attributes|arguments|content|resource|step|action|actor|model|on_behalf_of|trace_id|"
    "workflow_id|run_id|event_id"
)
_PRODUCER_TEXT = re.compile(rf"(?<![\w.])event\s*\.\s*(?:{_TEXT_FIELDS})\b|(?<![\w.])event\s*\[")


def _call_argument(source: str, open_paren: int) -> str | None:
    """The text between ``source[open_paren]`` (a ``(``) and its matching ``)``."""
    depth = 0
    for j in range(open_paren, len(source)):
        c = source[j]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return source[open_paren + 1 : j]
    return None


def _check_weakening(
    rules: Sequence[CompiledRule], default: CompiledRule | None, problems: list[Problem]
) -> None:
    """Warnings for what can still let an event through with less review than intended.

    Under the precedence no rule lowers the outcome another rule gives; what can weaken
    is a hold that approves on expiry (alone, it releases unreviewed), a default that
    allows (fail open), and, informationally, conversions of producer text (they fail
    closed in deny/hold rules, and make an allow rule not match).
    """
    strict_default = default is not None and default.outcome != "allow"
    for rule in rules:
        hold = rule.hold
        if hold is not None and hold.on_expiry == "APPROVE":
            problems.append(
                Problem(
                    "can weaken a stricter rule: on_expiry approve releases the event"
                    " unreviewed when this hold expires"
                    + (" (the default would hold or deny it)" if strict_default else "")
                    + "; where another hold also matches, the stricter on_expiry applies",
                    rule.name,
                    "warning",
                )
            )
        for m in _CONVERSION.finditer(rule.source):
            arg = _call_argument(rule.source, m.end() - 1)
            if arg is None or not _PRODUCER_TEXT.search(arg):
                continue
            if f"{arg.strip()}.matches(" in rule.source:
                continue  # guarded by a format check on the same text
            effect = {
                "deny": "fails closed: the rule denies",
                "hold": "fails closed: the rule holds",
                "allow": "the rule does not match",
            }[rule.outcome]
            problems.append(
                Problem(
                    f"{m.group(1)}() of producer-supplied text can fail at run time"
                    f" ({effect}); check its format first with"
                    f' {arg.strip()}.matches("^[0-9]+([.][0-9]+)?$")',
                    rule.name,
                    "warning",
                )
            )
    if default is not None and default.outcome == "allow":
        problems.append(
            Problem(
                "allow: an event no rule matches is approved (fail open); hold or deny instead",
                "default",
                "warning",
            )
        )
