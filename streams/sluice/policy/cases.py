"""Table-driven policy cases: load them, lay each partial event over a routine one, assess.

What ``sluice policy test`` runs, and what the policy unit tests build events from
(:func:`base_event`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["base_event", "case_velocity", "load_cases", "run_cases"]


def base_event(now_ms: int) -> dict[str, Any]:
    """A complete, routine WorkflowEvent dict that a case's partial ``event`` is laid over."""
    return {
        "event_id": "00000000-0000-4000-8000-000000000001",
        "workflow_id": "wf-policy-test",
        "run_id": "run-policy-test",
        "step": "step-1",
        "kind": "OTHER",
        "actor": {"id": "agent-policy-test", "type": "AGENT", "roles": []},
        "action": "test",
        "data_classification": "INTERNAL",
        "occurred_at": now_ms,
        "on_behalf_of": None,
        "resource": None,
        "content": None,
        "arguments": None,
        "model": None,
        "confidence": None,
        "cost_usd": None,
        "trace_id": None,
        "attributes": {},
    }


def _case_event(partial: Any, now_ms: int, where: str) -> dict[str, Any]:
    from sluice.errors import ConfigError

    if partial is None:
        partial = {}
    if not isinstance(partial, dict):
        raise ConfigError(f"{where}: event must be a mapping")
    event = base_event(now_ms)
    for key, value in partial.items():
        if key == "actor" and isinstance(value, dict):
            event["actor"] = {**event["actor"], **value}
        elif key == "model" and isinstance(value, dict):
            event["model"] = {"name": "model", "version": None, "provider": None, **value}
        else:
            event[key] = value
    return event


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Cases from a YAML file (a list, or ``{cases: [...]}``) or JSON lines (``.jsonl``).

    Raises:
        ConfigError: unreadable file or a malformed case (one line, naming the case).
    """
    import json

    import yaml

    from sluice.errors import ConfigError
    from sluice.policy.model import OUTCOMES

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cases file {path}: cannot read ({exc})") from exc
    try:
        if p.suffix in (".jsonl", ".ndjson"):
            raw: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            raw = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cases file {path}: not valid YAML/JSON lines ({first})") from exc
    if isinstance(raw, dict):
        raw = raw.get("cases")
    if not isinstance(raw, list):
        raise ConfigError(f"cases file {path}: expected a list of cases")
    cases = []
    for i, case in enumerate(raw):
        where = f"case {i + 1}"
        if not isinstance(case, dict):
            raise ConfigError(f"{where}: must be a mapping")
        name = str(case.get("name") or where)
        unknown = set(case) - {
            "name",
            "event",
            "findings",
            "expect",
            "rule",
            "rules",
            "now",
            "velocity",
        }
        if unknown:
            raise ConfigError(f"case '{name}': unknown keys {sorted(unknown)}")
        if case.get("expect") not in OUTCOMES:
            raise ConfigError(f"case '{name}': expect must be allow, hold or deny")
        if not isinstance(case.get("findings") or [], list):
            raise ConfigError(f"case '{name}': findings must be a list")
        vel = case.get("velocity")
        if vel is not None and not (
            isinstance(vel, dict)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vel.values())
        ):
            raise ConfigError(f"case '{name}': velocity must map actor/workflow/... to numbers")
        rules = case.get("rules")
        if rules is not None and not (
            isinstance(rules, list) and rules and all(isinstance(r, str) for r in rules)
        ):
            raise ConfigError(f"case '{name}': rules must be a list of rule names")
        cases.append({**case, "name": name})
    return cases


def _finding(raw: Any, name: str) -> Any:
    from pydantic import ValidationError as PydanticError

    from sluice.errors import ConfigError
    from sluice.models import Finding

    if not isinstance(raw, dict):
        raise ConfigError(f"case '{name}': each finding must be a mapping")
    data = {"detector": "test", "field": "content", "start": 0, "end": 0, **raw}
    try:
        return Finding.model_validate(data)
    except PydanticError as exc:
        raise ConfigError(f"case '{name}': bad finding ({exc.error_count()} errors)") from exc


def case_velocity(
    policy: Any, event: dict[str, Any], given: dict[str, Any] | None
) -> dict[str, int | float]:
    """The window values a case is assessed with: ``velocity: {actor: 201}`` sets every
    window of that dimension; the others are the event alone (1, spend: its cost)."""
    out: dict[str, int | float] = {}
    for ref in getattr(policy, "velocity", ()):
        value = (given or {}).get(ref.dim)
        if value is None:
            cost = event.get("cost_usd")
            value = float(cost or 0.0) if ref.dim == "spend" else 1
        out[ref.var] = float(value) if ref.dim == "spend" else int(value)
    return out


def run_cases(policy: Any, cases: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """Assess every case; one result dict per case (name, passed, expected, got...)."""
    results = []
    for case in cases:
        name = case["name"]
        event = _case_event(case.get("event"), now_ms, f"case '{name}'")
        findings = [_finding(f, name) for f in case.get("findings") or []]
        case_now = case.get("now")
        when = case_now if isinstance(case_now, int) else now_ms
        if getattr(policy, "velocity", ()):
            vel = case_velocity(policy, event, case.get("velocity"))
            a = policy.assess(event, findings, now_ms=when, velocity=vel)
        else:
            a = policy.assess(event, findings, now_ms=when)
        want_rule = case.get("rule")
        want_rules = case.get("rules")
        got_rules = list(getattr(a, "rules", ()) or (a.rule,))
        passed = (
            a.outcome == case["expect"]
            and (want_rule is None or a.rule == want_rule)
            and (want_rules is None or sorted(want_rules) == sorted(got_rules))
        )
        results.append(
            {
                "name": name,
                "passed": passed,
                "expect": case["expect"],
                "expect_rule": want_rule,
                "outcome": a.outcome,
                "rule": a.rule,
                "rules": got_rules,
                "errors": list(a.errors),
            }
        )
    return results
