"""``sluice policy check|test|diff``: validate a policy file, run table-driven cases on it,
and replay stored events through a candidate."""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

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


@policy_app.command("diff")
def diff(
    candidate: str = typer.Argument(..., metavar="CANDIDATE", help="Candidate policy (YAML)."),
    since: str = typer.Option(
        "24h", "--since", help="Start of the window: a duration back from now (24h, 7d) or ISO."
    ),
    live: str | None = typer.Option(
        None,
        "--live",
        help="Assess with this live policy file too, instead of comparing with the stored "
        "decisions (then every deciding rule and the whole hold spec are compared).",
    ),
    audit: bool = typer.Option(
        True, "--audit/--no-audit", help="Count audited decisions with no stored event."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Seconds without progress before giving up."
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Replay the stored intake decisions of a window through CANDIDATE; table of changes.

    Replays the sanitized events (and findings) intake stored in the approvals topic
    (held) and the approved/rejected topics (allowed/denied by policy): what the live
    policy assessed. Prints how many would be held, released, rejected or approved
    differently, and the changes by (live rule, candidate rule). The audit trail has
    no event content; it is read to count decisions whose stored event has expired.
    Exit 0 (changes are data, not an error), 2 when a policy does not load.
    """
    import asyncio

    import orjson

    from sluice.audit.export import iso_ms, parse_since
    from sluice.cli.progress import progress
    from sluice.clock import now_ms
    from sluice.codec.framed import codec_for
    from sluice.policy import load_policy
    from sluice.settings import load_settings
    from sluice.shadow.diff import Replayer, format_report
    from sluice.shadow.replay import read_window

    cand = load_policy(candidate)
    live_policy = load_policy(live) if live is not None else None
    until_ms = now_ms()
    try:
        since_ms = parse_since(since, now_ms=until_ms)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    codec = codec_for(settings)
    replayer = Replayer(cand, since_ms=since_ms, until_ms=until_ms, live=live_policy)
    with progress("reading stored decisions", json_out=json_out) as on_progress:
        window = asyncio.run(
            read_window(
                settings,
                codec,
                since_ms,
                until_ms,
                replayer.add,
                audit=audit,
                timeout_s=timeout,
                on_progress=on_progress,
            )
        )
    report = replayer.report
    report.undecodable = window.undecodable
    if audit:
        report.audited = len(window.audited)
        report.not_replayable = window.not_replayable
    if json_out:
        typer.echo(orjson.dumps(report.to_json()).decode())
    else:
        typer.echo(format_report(report, iso_ms))


def register(app: typer.Typer) -> None:
    """Add the ``policy`` verb group to the root app."""
    app.add_typer(policy_app, name="policy")
