"""``sluice policy check|test``: validate a policy file and run table-driven cases on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["base_event", "load_cases", "register", "run_cases"]

policy_app = typer.Typer(help="Check and test policy files.", no_args_is_help=True)


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
        unknown = set(case) - {"name", "event", "findings", "expect", "rule", "rules", "now"}
        if unknown:
            raise ConfigError(f"case '{name}': unknown keys {sorted(unknown)}")
        if case.get("expect") not in OUTCOMES:
            raise ConfigError(f"case '{name}': expect must be allow, hold or deny")
        if not isinstance(case.get("findings") or [], list):
            raise ConfigError(f"case '{name}': findings must be a list")
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


def run_cases(policy: Any, cases: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """Assess every case; one result dict per case (name, passed, expected, got...)."""
    results = []
    for case in cases:
        name = case["name"]
        event = _case_event(case.get("event"), now_ms, f"case '{name}'")
        findings = [_finding(f, name) for f in case.get("findings") or []]
        case_now = case.get("now")
        a = policy.assess(event, findings, now_ms=case_now if isinstance(case_now, int) else now_ms)
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


@policy_app.command("check")
def check(
    file: str = typer.Argument(..., help="Policy file (YAML)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    strict: bool = typer.Option(False, "--strict", help="Fail on warnings too."),
) -> None:
    """Validate a policy: YAML, keys, outcomes, CEL syntax and types, unreachable rules.

    Exit 0 when it would load (warnings are printed), 1 with problems listed one per
    line, 2 when the file cannot be read.
    """
    import json

    from sluice.policy import check_policy

    problems = check_policy(file)
    failing = [p for p in problems if p.severity == "error" or strict]
    if json_out:
        payload = {
            "file": file,
            "ok": not failing,
            "problems": [
                {"severity": p.severity, "rule": p.rule, "message": p.message} for p in problems
            ],
        }
        typer.echo(json.dumps(payload))
    else:
        for p in problems:
            typer.echo(f"{file}: {p.severity}: {p}")
        if not failing:
            typer.echo(f"{file}: ok", err=True)
    if failing:
        raise typer.Exit(1)


@policy_app.command("test")
def test(
    file: str = typer.Argument(..., help="Policy file (YAML)."),
    cases_file: str = typer.Argument(..., metavar="CASES", help="Cases: YAML or JSON lines."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run table-driven cases (event -> expected outcome and rule) against a policy.

    A case: ``{name, event: {partial event}, findings: [...], expect: allow|hold|deny,
    rule: optional, rules: optional}`` (``rules``: every rule of a combined hold, any
    order); missing event fields are filled with a routine event. Exit 1 if
    any case fails, 2 if the policy or the cases file is bad.
    """
    import json
    import time

    from sluice.policy import load_policy

    policy = load_policy(file)
    cases = load_cases(cases_file)
    results = run_cases(policy, cases, time.time_ns() // 1_000_000)
    failed = [r for r in results if not r["passed"]]
    if json_out:
        payload = {
            "file": file,
            "policy_hash": policy.hash,
            "passed": len(results) - len(failed),
            "failed": len(failed),
            "cases": results,
        }
        typer.echo(json.dumps(payload))
    else:
        for r in results:
            if r["passed"]:
                typer.echo(f"PASS {r['name']}: {r['outcome']} ({', '.join(r['rules'])})")
            else:
                want = r["expect"] + (f" ({r['expect_rule']})" if r["expect_rule"] else "")
                got = f"{r['outcome']} ({', '.join(r['rules'])})"
                typer.echo(f"FAIL {r['name']}: expected {want}, got {got}")
        typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed", err=True)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``policy`` verb group to the root app."""
    app.add_typer(policy_app, name="policy")
