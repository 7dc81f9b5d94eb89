"""``sluice quarantine add|lift|list``: the kill switch for a runaway actor, workflow or run.

A thin front end to :mod:`sluice.quarantine.client`: ``add`` and ``lift`` sign a control
with the reviewer's private key file and publish it to ``workflow.controls``; every
intake worker applies it without a restart. ``list`` folds the topic as a worker does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]

quarantine_app = typer.Typer(
    help="Quarantine an actor, workflow or run (hold or reject its new events); lift; list.",
    no_args_is_help=True,
)

_KEY = typer.Option(..., "--key", help="Your private key file (from `sluice keys new`).")
_TIMEOUT = typer.Option(30.0, "--timeout", min=1.0, help="Seconds to spend reading the topic.")


def _until_ms(text: str | None) -> int:
    """``--until``: a duration from now (``2h``, ``1d``) or an ISO 8601 time (UTC if bare)."""
    if not text:
        return 0
    from sluice.clock import now_ms
    from sluice.policy.model import parse_duration_ms

    try:
        return now_ms() + parse_duration_ms(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            "use a duration (30m, 2h, 1d) or an ISO time (2026-12-01T18:00Z)", param_hint="--until"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _when(ms: int) -> str:
    if not ms:
        return "until lifted"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _settings(bootstrap_servers: str | None) -> Any:
    from sluice.settings import load_settings

    return load_settings(bootstrap_servers=bootstrap_servers)


@quarantine_app.command("add")
def add(
    actor: str = typer.Option(None, "--actor", help="Quarantine every event of this actor id."),
    workflow: str = typer.Option(None, "--workflow", help="... of this workflow id."),
    run_id: str = typer.Option(None, "--run", help="... of this run id."),
    reason: str = typer.Option(..., "--reason", help="Why (shown to reviewers and in list)."),
    key: str = _KEY,
    until: str = typer.Option(
        None, "--until", help="End: a duration (2h) or ISO time; default until lifted."
    ),
    mode: str = typer.Option(
        "hold", "--mode", help="hold (review each event) or reject (refuse each event)."
    ),
    include_open_holds: bool = typer.Option(
        False,
        "--include-open-holds",
        help="With --mode reject: also sign a REJECT for each open hold of the subject"
        " (counted by the gate where your roles are asked for).",
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Sign and publish a quarantine; prints its id (lift it with `sluice quarantine lift`)."""
    from sluice.quarantine import client

    given = [(t, v) for t, v in (("actor", actor), ("workflow", workflow), ("run", run_id)) if v]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --actor, --workflow, --run")
    if mode not in ("hold", "reject"):
        raise typer.BadParameter("hold or reject", param_hint="--mode")
    if include_open_holds and mode != "reject":
        raise typer.BadParameter(
            "open holds are already held; it goes with --mode reject",
            param_hint="--include-open-holds",
        )
    stype, subject = given[0]
    control = client.run(
        client.add_quarantine(
            stype,
            subject,
            reason=reason,
            key=key,
            mode=mode,
            until_ms=_until_ms(until),
            settings=_settings(bootstrap_servers),
        )
    )
    typer.echo(control["quarantine_id"])
    if include_open_holds:
        rejected = client.run(
            client.reject_open_holds(control, key=key, settings=_settings(bootstrap_servers))
        )
        typer.echo(
            f"{len(rejected)} open hold(s) of the subject: REJECT published"
            " (`sluice review list` shows any the gate did not count)",
            err=True,
        )


@quarantine_app.command("lift")
def lift(
    quarantine_id: str = typer.Argument(..., help="Quarantine id (from add or list)."),
    key: str = _KEY,
    reason: str = typer.Option("", "--reason", help="Why (optional)."),
    bootstrap_servers: BootstrapServers = None,
    timeout: float = _TIMEOUT,
) -> None:
    """Sign and publish one lift vote; the policy names how many distinct votes lift it."""
    from sluice.quarantine import client

    control, q = client.run(
        client.lift_quarantine(
            quarantine_id,
            key=key,
            reason=reason,
            settings=_settings(bootstrap_servers),
            timeout_s=timeout,
        )
    )
    typer.echo(
        f"lift vote {control['control_id']} by {control['reviewer_id']} published for"
        f" {q.subject_type} {q.subject} (votes before it: {len(q.lift_votes)})"
    )


@quarantine_app.command("list")
def list_(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per quarantine."),
    bootstrap_servers: BootstrapServers = None,
    timeout: float = _TIMEOUT,
) -> None:
    """Quarantines in force: subject, mode, until, lift votes, who added it and why."""
    import orjson

    from sluice.quarantine import client

    log = client.run(client.read_controls(_settings(bootstrap_servers), timeout_s=timeout))
    need = log.controls.config.lift_approvals
    rows = log.in_force()
    for q in rows:
        if json_out:
            typer.echo(
                orjson.dumps(
                    {
                        "id": q.id,
                        "subject_type": q.subject_type,
                        "subject": q.subject,
                        "mode": q.mode,
                        "until": q.until or None,
                        "reason": q.reason,
                        "added_by": q.added_by,
                        "added_at": q.added_at,
                        "lift_votes": sorted(q.lift_votes),
                        "lift_votes_needed": need,
                    }
                ).decode()
            )
        else:
            typer.echo(
                f"{q.id}  {q.subject_type}={q.subject!r}  mode={q.mode}  {_when(q.until)}"
                f"  lift={len(q.lift_votes)}/{need}  by={q.added_by}  reason={q.reason!r}"
            )
    refused = sum(1 for _, _, a in log.applied if a.result == "refused")
    if not json_out:
        typer.echo(f"{len(rows)} in force; {refused} control record(s) refused", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``quarantine`` group."""
    app.add_typer(quarantine_app, name="quarantine")
