"""``sluice policy check|test``: validate a policy file and run table-driven cases on it."""

from __future__ import annotations

import typer

__all__ = ["register"]

policy_app = typer.Typer(help="Check and test policy files.", no_args_is_help=True)


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

    from sluice.clock import now_ms
    from sluice.policy import load_policy
    from sluice.policy.cases import load_cases, run_cases

    policy = load_policy(file)
    cases = load_cases(cases_file)
    results = run_cases(policy, cases, now_ms())
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
