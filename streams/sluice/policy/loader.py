"""Read a policy file: structure, CEL compilation, static checks, probe evaluation.

``check_policy`` returns every problem; ``load_policy`` refuses (``ConfigError``, one
line naming the rule) when any problem is an error, and logs warnings.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cel
import yaml

from sluice.errors import ConfigError
from sluice.models.event import StepKind
from sluice.policy.analysis import analyze, rewrite_event_fields
from sluice.policy.engine import CMP_OPS, FLAT_PREFIX, IN_OP, NOTNULL_OP, CompiledRule, Policy
from sluice.policy.model import EVENT_FIELDS, HoldSpec, Problem, Requirement, parse_duration_ms

__all__ = ["DEFAULT_POLICY", "check_policy", "check_policy_bytes", "load_policy"]

log = logging.getLogger(__name__)

#: Name of the policy shipped inside the package (``sluice/policy/default.yaml``).
DEFAULT_POLICY = "default.yaml"

_TOP_KEYS = frozenset({"version", "description", "lists", "limits", "rules", "default"})
_RULE_KEYS = frozenset({"name", "description", "when", "allow", "hold", "deny"})
_OUTCOME_KEYS = {
    "allow": frozenset({"reason"}),
    "deny": frozenset({"reason"}),
    "hold": frozenset({"roles", "approvals", "levels", "ttl", "on_expiry", "escalate", "reason"}),
}
_ESCALATE_KEYS = frozenset({"roles", "approvals", "ttl", "carry_votes"})
_EXPIRY = {"reject": "REJECT", "approve": "APPROVE", "escalate": "ESCALATE"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
_VARIABLES = frozenset({"event", "findings", "lists", "limits", "now"})
#: The hold used when a file has no ``default:`` (fail closed, as in SPEC §4's example).
_IMPLICIT_DEFAULT = HoldSpec(roles=("security",), approvals=1, ttl_ms=4 * 3_600_000)


@dataclass(slots=True)
class _Doc:
    rules: list[CompiledRule] = field(default_factory=list)
    default: CompiledRule | None = None
    lists: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _read(path: str | Path | None) -> tuple[bytes, str]:
    if path is None:
        data = resources.files("sluice.policy").joinpath(DEFAULT_POLICY).read_bytes()
        return data, f"<package>/{DEFAULT_POLICY}"
    try:
        return Path(path).read_bytes(), str(path)
    except OSError as exc:
        raise ConfigError(f"policy file {path}: cannot read ({exc.strerror or exc})") from exc


def _cel_message(exc: Exception) -> str:
    """The CEL library's (multi-line) message as one line, without the expression text."""
    text = str(exc)
    m = re.search(r"ERROR:\s*<input>:(\d+:\d+):\s*([^\n]*)", text)
    if m is not None:
        return f"at {m.group(1)}: {m.group(2).strip()}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


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


def _outcome_of(
    body: Mapping[str, Any], where: str, problems: list[Problem]
) -> tuple[str, str | None, HoldSpec | None] | None:
    present = [k for k in ("allow", "hold", "deny") if k in body]
    if len(present) != 1:
        problems.append(Problem("needs exactly one of allow, hold, deny", where))
        return None
    parsed = _parse_outcome(present[0], body[present[0]], where, problems)
    if parsed is None:
        return None
    return present[0], parsed[0], parsed[1]


def _compile_rule(
    name: str,
    source: str,
    outcome: tuple[str, str | None, HoldSpec | None],
    doc: _Doc,
) -> CompiledRule | None:
    problems = doc.problems
    try:
        program = cel.compile(source)
    except Exception as exc:  # the library raises ValueError; be broad, report one line
        problems.append(Problem(f"CEL error {_cel_message(exc)}", name))
        return None
    info = analyze(source)
    variables = set(program.variables())
    unknown = variables - _VARIABLES - (info.bound if info.sure else set(variables))
    for var in sorted(unknown):
        problems.append(
            Problem(f"unknown variable {var!r} (use event, findings, lists, limits, now)", name)
        )
    if info.sure:
        for fld in sorted((info.event_fields or frozenset()) - EVENT_FIELDS):
            problems.append(Problem(f"unknown event field {fld!r}", name))
        for section, item in sorted(info.named):
            table = doc.lists if section == "lists" else doc.limits
            if item not in table:
                problems.append(Problem(f"{section}.{item} is not defined in {section}:", name))
    rule = CompiledRule(
        name=name,
        source=source,
        outcome=outcome[0],
        reason=outcome[1],
        hold=outcome[2],
        program=program,
        info=info,
    )
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
        preds = [_resolve(p, doc.limits) for p in info.predicates]
        rule.preds = tuple(p for p in preds if p is not None)
        rule.pure = bool(preds) and all(p is not None for p in preds)
    return rule


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


def _parse_named(value: Any, section: str, doc: _Doc) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        doc.problems.append(Problem(f"{section}: must be a mapping of name to value"))
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_]\w*$", key):
            doc.problems.append(Problem(f"{section}: {key!r} is not a valid name"))
            continue
        if section == "lists" and not isinstance(item, list):
            doc.problems.append(Problem(f"lists.{key} must be a list"))
            continue
        if section == "limits" and not _is_number_or_number_map(item):
            doc.problems.append(Problem(f"limits.{key} must be a number or a map of numbers"))
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


def _parse(data: bytes) -> _Doc:
    doc = _Doc()
    problems = doc.problems
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
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
    for key in raw:
        if key not in _TOP_KEYS:
            problems.append(Problem(f"unknown top-level key {key!r}"))
    version = raw.get("version", 1)
    if version != 1:
        problems.append(Problem(f"unsupported version {version!r} (this sluice reads 1)"))
    doc.lists = _parse_named(raw.get("lists"), "lists", doc)
    doc.limits = _parse_named(raw.get("limits"), "limits", doc)
    rules = raw.get("rules")
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        problems.append(Problem("rules: must be a list"))
        rules = []
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
        rule = _compile_rule(name, when.strip(), outcome, doc)
        if rule is not None:
            doc.rules.append(rule)
    default_body = raw.get("default")
    if default_body is None:
        default_outcome: tuple[str, str | None, HoldSpec | None] | None = (
            "hold",
            None,
            _IMPLICIT_DEFAULT,
        )
    elif not isinstance(default_body, dict):
        problems.append(Problem("must be a mapping with one of allow, hold, deny", "default"))
        default_outcome = None
    else:
        for key in default_body:
            if key not in ("allow", "hold", "deny", "description"):
                problems.append(Problem(f"unknown key {key!r}", "default"))
        default_outcome = _outcome_of(default_body, "default", problems)
    if default_outcome is not None:
        doc.default = CompiledRule(
            name="default",
            source="true",
            outcome=default_outcome[0],
            reason=default_outcome[1],
            hold=default_outcome[2],
            program=cel.compile("true"),
            info=analyze("true"),
            pure=True,
        )
    if not doc.rules and not rules:
        problems.append(Problem("no rules: every event gets the default", None, "warning"))
    _check_reachability(doc)
    return doc


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


def _check_reachability(doc: _Doc) -> None:
    """Rules that can never decide under the precedence (deny > every hold > first allow).

    A deny is pre-empted by an earlier deny; a hold by any deny; an allow by any deny or
    hold (wherever it is in the file) and by an earlier allow.
    """
    problems = doc.problems
    for i, rule in enumerate(doc.rules):
        if rule.info.normalized == "false":
            problems.append(Problem("never matches (when: false)", rule.name, "warning"))
            continue
        if rule.outcome == "deny":
            rivals = [r for r in doc.rules[:i] if r.outcome == "deny"]
        elif rule.outcome == "hold":
            rivals = [r for r in doc.rules if r.outcome == "deny"]
        else:
            rivals = [r for r in doc.rules if r.outcome != "allow"] + [
                r for r in doc.rules[:i] if r.outcome == "allow"
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
    always = next((r.name for r in doc.rules if r.info.normalized == "true"), None)
    if always is not None:
        problems.append(
            Problem(f"never used: rule '{always}' always matches", "default", "warning")
        )
    _check_weakening(doc)


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


def _check_weakening(doc: _Doc) -> None:
    """Warnings for what can still let an event through with less review than intended.

    Under the precedence no rule lowers the outcome another rule gives; what can weaken
    is a hold that approves on expiry (alone, it releases unreviewed), a default that
    allows (fail open), and, informationally, conversions of producer text (they fail
    closed in deny/hold rules, and make an allow rule not match).
    """
    problems = doc.problems
    strict_default = doc.default is not None and doc.default.outcome != "allow"
    for rule in doc.rules:
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
    default = doc.default
    if default is not None and default.outcome == "allow":
        problems.append(
            Problem(
                "allow: an event no rule matches is approved (fail open); hold or deny instead",
                "default",
                "warning",
            )
        )


# --- probe evaluation: type errors that only show when a condition runs --------------

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


def _probe(doc: _Doc) -> None:
    """Run each condition on synthetic events; report non-bool results and type errors."""
    samples = _samples()
    for rule in doc.rules:
        nonbool: str | None = None
        type_error = null_error = False
        for variant, event in samples:
            for findings in ([], _PROBE_FINDINGS):
                activation = {
                    "event": event,
                    "findings": findings,
                    "lists": doc.lists,
                    "limits": doc.limits,
                    "now": 1_700_000_000_000,
                }
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
            doc.problems.append(Problem(f"condition gives a {nonbool}, not a bool", rule.name))
        if type_error:
            doc.problems.append(
                Problem("type error (no such overload) on a complete sample event", rule.name)
            )
        elif null_error:
            doc.problems.append(
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


def check_policy_bytes(data: bytes) -> list[Problem]:
    """Every problem in a policy file's bytes, errors first in file order, then warnings."""
    doc = _parse(data)
    _probe(doc)
    errors = [p for p in doc.problems if p.severity == "error"]
    return errors + [p for p in doc.problems if p.severity != "error"]


def check_policy(path: str | Path | None) -> list[Problem]:
    """Validate a policy file (None: the shipped default) without loading it.

    Returns problems: YAML syntax, unknown keys, bad outcomes or durations, CEL syntax
    errors, unknown variables/event fields/lists, unreachable or duplicate rules, and
    conditions that give non-bools or type errors on sample events. Empty means clean.

    Raises:
        ConfigError: the file cannot be read.
    """
    data, _ = _read(path)
    return check_policy_bytes(data)


def load_policy(path: str | Path | None = None, *, optimize: bool = True) -> Policy:
    """Load and compile a policy file; None loads the policy shipped in the package.

    ``optimize=False`` evaluates every rule with plain CEL (the reference semantics).

    Raises:
        ConfigError: unreadable file or any error-severity problem; the one-line message
            names the rule (``policy rule 'x': CEL error at 1:5: ...``).
    """
    data, source = _read(path)
    doc = _parse(data)
    _probe(doc)
    errors = [p for p in doc.problems if p.severity == "error"]
    if errors:
        more = (
            f" (and {len(errors) - 1} more; run `sluice policy check`)" if len(errors) > 1 else ""
        )
        raise ConfigError(f"{source}: {errors[0]}{more}")
    for p in doc.problems:
        log.warning("policy warning", extra={"policy": source, "problem": str(p)})
    assert doc.default is not None  # noqa: S101 - no errors means the default parsed
    return Policy(
        doc.rules,
        doc.default,
        hashlib.sha256(data).hexdigest(),
        lists=doc.lists,
        limits=doc.limits,
        source=source,
        optimize=optimize,
    )
