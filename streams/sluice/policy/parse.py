"""Policy YAML to checked raw structures: keys, outcomes, hold requirements, lists, limits.

Every problem is a :class:`~sluice.policy.model.Problem` naming the rule, appended in
file order; nothing here compiles CEL (:mod:`sluice.policy.compile` does, rule by
rule, as :func:`parse_rules` yields them, so problems stay in file order).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sluice.policy.model import HoldSpec, Problem, Requirement, parse_duration_ms
from sluice.yamlstrict import safe_load_strict

__all__ = [
    "IMPLICIT_DEFAULT",
    "Outcome",
    "RawPolicy",
    "parse_default",
    "parse_policy",
    "parse_rules",
]

_TOP_KEYS = frozenset({"version", "description", "lists", "limits", "rules", "default", "controls"})
_RULE_KEYS = frozenset({"name", "description", "when", "allow", "hold", "deny"})
_OUTCOME_KEYS = {
    "allow": frozenset({"reason"}),
    "deny": frozenset({"reason"}),
    "hold": frozenset({"roles", "approvals", "levels", "ttl", "on_expiry", "escalate", "reason"}),
}
_ESCALATE_KEYS = frozenset({"roles", "approvals", "ttl", "carry_votes"})
_EXPIRY = {"reject": "REJECT", "approve": "APPROVE", "escalate": "ESCALATE"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
#: The hold used when a file has no ``default:`` (fail closed, as in SPEC §4's example).
IMPLICIT_DEFAULT = HoldSpec(roles=("security",), approvals=1, ttl_ms=4 * 3_600_000)

#: A rule's outcome: (``allow``/``hold``/``deny``, reason, hold spec for a hold).
Outcome = tuple[str, str | None, HoldSpec | None]


@dataclass(slots=True)
class RawPolicy:
    """A policy file read as far as YAML and the top level go."""

    #: The top-level mapping (None: unusable, a problem says why).
    body: dict[str, Any] | None = None
    lists: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    #: The ``rules:`` items, unchecked (:func:`parse_rules` checks them).
    rules: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return tuple(v.strip() for v in value)


def _parse_outcome(
    kind: str, body: Any, where: str, problems: list[Problem]
) -> tuple[str | None, HoldSpec | None] | None:
    """(reason, hold) of one outcome mapping; None (with problems added) when invalid."""
    if body is None or body is True:
        body = {}
    if not isinstance(body, dict):
        problems.append(Problem(f"{kind}: must be a mapping", where))
        return None
    ok = True
    for key in body:
        if key not in _OUTCOME_KEYS[kind]:
            problems.append(Problem(f"{kind}: unknown key {key!r}", where))
            ok = False
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        problems.append(Problem(f"{kind}: reason must be a string", where))
        ok = False
    if kind == "deny" and not (isinstance(reason, str) and reason.strip()):
        problems.append(Problem("deny: needs a non-empty reason", where))
        ok = False
    if kind != "hold":
        return (reason, None) if ok else None
    hold = _parse_hold(body, where, problems)
    if not ok or hold is None:
        return None
    return reason, hold


def _requirements_map(
    value: Any, level: int, what: str, where: str, problems: list[Problem]
) -> tuple[Requirement, ...] | None:
    """``{role: count, ...}`` as requirements at ``level``; None (problem added) if bad."""
    if not isinstance(value, dict) or not value:
        problems.append(Problem(f"{what} must be a non-empty map of role to count", where))
        return None
    out = []
    for role, count in value.items():
        if not isinstance(role, str) or not role.strip():
            problems.append(Problem(f"{what}: role names must be non-empty strings", where))
            return None
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            problems.append(Problem(f"{what}: count for {role!r} must be an integer >= 1", where))
            return None
        out.append(Requirement(role.strip(), count, level))
    return tuple(out)


def _who(
    body: Mapping[str, Any], what: str, where: str, problems: list[Problem], *, levels_ok: bool
) -> tuple[tuple[str, ...], int, tuple[Requirement, ...]] | None:
    """(roles, approvals, requirements) of a hold or an escalation; None when invalid.

    Three forms: ``roles: [...]`` with ``approvals: N`` (N from any of the roles);
    ``approvals: {role: N, ...}`` (every role its count, level 1); ``levels: [{...}, ...]``
    (level k counts once levels 1..k-1 are complete).
    """
    approvals = body.get("approvals", 1)
    levels = body.get("levels") if levels_ok else None
    roles_raw = body.get("roles")
    if levels is not None or isinstance(approvals, dict):
        if roles_raw is not None:
            problems.append(
                Problem(f"{what}: roles is implied by the approvals map or levels; drop it", where)
            )
            return None
        if levels is not None:
            if "approvals" in body:
                problems.append(Problem(f"{what}: use levels or approvals, not both", where))
                return None
            if not isinstance(levels, list) or not levels:
                problems.append(Problem(f"{what}: levels must be a non-empty list of maps", where))
                return None
            reqs: list[Requirement] = []
            for i, level in enumerate(levels, start=1):
                got = _requirements_map(level, i, f"{what}: levels[{i - 1}]", where, problems)
                if got is None:
                    return None
                reqs.extend(got)
        else:
            got = _requirements_map(approvals, 1, f"{what}: approvals", where, problems)
            if got is None:
                return None
            reqs = list(got)
        roles = tuple(dict.fromkeys(r.role for r in reqs))
        return roles, sum(r.count for r in reqs), tuple(reqs)
    pool = _string_list(roles_raw)
    if pool is None:
        problems.append(
            Problem(
                f"{what}: roles must be a non-empty list of role names"
                " (or give approvals as a map of role to count)",
                where,
            )
        )
        return None
    if isinstance(approvals, bool) or not isinstance(approvals, int) or approvals < 1:
        problems.append(
            Problem(f"{what}: approvals must be an integer >= 1 or a map of role to count", where)
        )
        return None
    return pool, approvals, ()


def _parse_hold(body: Mapping[str, Any], where: str, problems: list[Problem]) -> HoldSpec | None:
    ok = True
    who = _who(body, "hold", where, problems, levels_ok=True)
    ttl_ms = 0
    try:
        ttl_ms = parse_duration_ms(body.get("ttl", "4h"))
    except ValueError as exc:
        problems.append(Problem(f"hold: ttl: {exc}", where))
        ok = False
    expiry_raw = body.get("on_expiry", "reject")
    on_expiry = _EXPIRY.get(str(expiry_raw).lower()) if isinstance(expiry_raw, str) else None
    if on_expiry is None:
        problems.append(Problem("hold: on_expiry must be reject, approve or escalate", where))
        ok = False
    esc_who: tuple[tuple[str, ...], int, tuple[Requirement, ...]] | None = ((), 0, ())
    esc_ttl = 0
    carry = False
    escalate = body.get("escalate")
    if on_expiry == "ESCALATE":
        if not isinstance(escalate, dict):
            problems.append(Problem("hold: on_expiry escalate needs escalate: {roles, ttl}", where))
            ok = False
        else:
            for key in escalate:
                if key not in _ESCALATE_KEYS:
                    problems.append(Problem(f"hold: escalate: unknown key {key!r}", where))
                    ok = False
            esc_body = dict(escalate)
            explicit = "approvals" in esc_body
            esc_who = _who(esc_body, "hold: escalate", where, problems, levels_ok=False)
            if esc_who is not None and not explicit:
                esc_who = (esc_who[0], 0, ())  # 0: as many approvals as the first phase
            try:
                esc_ttl = parse_duration_ms(escalate.get("ttl", body.get("ttl", "4h")))
            except ValueError as exc:
                problems.append(Problem(f"hold: escalate: ttl: {exc}", where))
                ok = False
            carry_raw = escalate.get("carry_votes", False)
            if not isinstance(carry_raw, bool):
                problems.append(Problem("hold: escalate: carry_votes must be true or false", where))
                ok = False
            else:
                carry = carry_raw
    elif escalate is not None:
        problems.append(Problem("hold: escalate is set but on_expiry is not escalate", where))
        ok = False
    if not ok or who is None or esc_who is None or on_expiry is None:
        return None
    roles, approvals, reqs = who
    return HoldSpec(
        roles=roles,
        approvals=approvals,
        ttl_ms=ttl_ms,
        on_expiry=on_expiry,
        escalate_roles=esc_who[0],
        escalate_ttl_ms=esc_ttl,
        requirements=reqs,
        escalate_approvals=esc_who[1],
        escalate_requirements=esc_who[2],
        escalate_carry_votes=carry,
    )


def _outcome_of(body: Mapping[str, Any], where: str, problems: list[Problem]) -> Outcome | None:
    present = [k for k in ("allow", "hold", "deny") if k in body]
    if len(present) != 1:
        problems.append(Problem("needs exactly one of allow, hold, deny", where))
        return None
    parsed = _parse_outcome(present[0], body[present[0]], where, problems)
    if parsed is None:
        return None
    return present[0], parsed[0], parsed[1]


def _parse_named(value: Any, section: str, problems: list[Problem]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(Problem(f"{section}: must be a mapping of name to value"))
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_]\w*$", key):
            problems.append(Problem(f"{section}: {key!r} is not a valid name"))
            continue
        if section == "lists" and not isinstance(item, list):
            problems.append(Problem(f"lists.{key} must be a list"))
            continue
        if section == "limits" and not _is_number_or_number_map(item):
            problems.append(Problem(f"limits.{key} must be a number or a map of numbers"))
            continue
        if section == "limits" and isinstance(item, (int, float)):
            item = float(item)  # so `x > limits.y` compares doubles whatever the YAML says
        elif section == "limits":
            item = {str(k): float(v) for k, v in item.items()}
        out[key] = item
    return out


def _is_number_or_number_map(item: Any) -> bool:
    def num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if num(item):
        return True
    return isinstance(item, dict) and bool(item) and all(num(v) for v in item.values())


def parse_policy(data: bytes) -> RawPolicy:
    """The file's YAML, top-level keys, version, ``lists:`` and ``limits:``."""
    doc = RawPolicy()
    problems = doc.problems
    try:
        raw = safe_load_strict(data.decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem("file is not UTF-8 text"))
        return doc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(Problem(f"YAML syntax error{where}: {getattr(exc, 'problem', exc)}"))
        return doc
    if not isinstance(raw, dict):
        problems.append(Problem("must be a mapping with rules: (and lists:, default:)"))
        return doc
    doc.body = raw
    for key in raw:
        if key not in _TOP_KEYS:
            problems.append(Problem(f"unknown top-level key {key!r}"))
    version = raw.get("version", 1)
    if version != 1:
        problems.append(Problem(f"unsupported version {version!r} (this sluice reads 1)"))
    doc.lists = _parse_named(raw.get("lists"), "lists", problems)
    doc.limits = _parse_named(raw.get("limits"), "limits", problems)
    rules = raw.get("rules")
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        problems.append(Problem("rules: must be a list"))
        rules = []
    doc.rules = rules
    return doc


def parse_rules(rules: list[Any], problems: list[Problem]) -> Iterator[tuple[str, str, Outcome]]:
    """(name, condition source, outcome) of each valid rule, in file order.

    Problems go to ``problems`` as the rules are read: a caller that compiles each
    yielded rule before asking for the next keeps every problem in file order.
    """
    seen: set[str] = set()
    for i, body in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(body, dict):
            problems.append(Problem("must be a mapping with name, when and an outcome", where))
            continue
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(
                Problem("name must be 1-80 characters of letters, digits, _ . : -", where)
            )
            name = where
        elif name == "default":
            problems.append(Problem("'default' is reserved for the final default", where))
        elif name in seen:
            problems.append(Problem("duplicate rule name (the first one shadows it)", name))
        seen.add(name)
        for key in body:
            if key not in _RULE_KEYS:
                problems.append(Problem(f"unknown key {key!r}", name))
        when = body.get("when")
        if isinstance(when, bool):  # `when: true` is read by YAML as a boolean
            when = "true" if when else "false"
        if not isinstance(when, str) or not when.strip():
            problems.append(Problem("when: must be a CEL expression", name))
            continue
        outcome = _outcome_of(body, name, problems)
        if outcome is None:
            continue
        yield name, when.strip(), outcome


def parse_default(body: Mapping[str, Any], problems: list[Problem]) -> Outcome | None:
    """The ``default:`` outcome (absent: :data:`IMPLICIT_DEFAULT`); None when invalid."""
    default_body = body.get("default")
    if default_body is None:
        return ("hold", None, IMPLICIT_DEFAULT)
    if not isinstance(default_body, dict):
        problems.append(Problem("must be a mapping with one of allow, hold, deny", "default"))
        return None
    for key in default_body:
        if key not in ("allow", "hold", "deny", "description"):
            problems.append(Problem(f"unknown key {key!r}", "default"))
    return _outcome_of(default_body, "default", problems)
