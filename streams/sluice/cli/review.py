"""``sluice review list|show|approve|reject``: the reviewer's side of the gate.

A thin front end to :mod:`sluice.review` (the programmatic reviewer API): the queue is
read from Kafka, never from a worker's memory (what it holds and shows:
:mod:`sluice.gate.queue`). ``approve``/``reject`` sign a Decision with the reviewer's
private key file and publish it to ``workflow.decisions`` keyed by event id; the gate
worker decides whether it counts (``--wait`` says what it decided).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]

review_app = typer.Typer(
    help="Review held events: list, show, approve, reject.", no_args_is_help=True
)


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _line(e: Mapping[str, Any]) -> str:
    risk = e["risk"]
    dets = ",".join(risk["detectors"][:4]) + ("..." if len(risk["detectors"]) > 4 else "")
    left = "EXPIRED" if e["expired"] else _duration(e["time_left_s"])
    return (
        f"{e['event_id']}  {e['kind']:<13} rule={e['rule']}  "
        f"risk={risk['score']:.2f}{' [' + dets + ']' if dets else ''}  "
        f"roles={','.join(e['roles'])}  approvals={e['approvals']}/{e['approvals_required']}"
        f"{'  rejections=' + str(e['rejections']) if e['rejections'] else ''}  left={left}"
    )


def _dumps(obj: Any, *, pretty: bool = False) -> str:
    import base64

    import orjson

    def default(o: Any) -> Any:
        if isinstance(o, bytes | bytearray):
            return base64.b64encode(o).decode("ascii")
        return str(o)

    opts = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(obj, default=default, option=opts).decode()


_REVIEWERS = typer.Option(
    None,
    "--reviewers",
    help="Reviewers registry to check votes against (default $SLUICE_REVIEWERS_FILE).",
)
_TIMEOUT = typer.Option(30.0, "--timeout", min=1.0, help="Seconds to spend reading the topics.")


# -- commands -----------------------------------------------------------------------


@review_app.command("list")
def list_(
    role: str = typer.Option(None, "--role", help="Only events this role may decide."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per held event."),
    bootstrap_servers: BootstrapServers = None,
    reviewers: str = _REVIEWERS,
    timeout: float = _TIMEOUT,
) -> None:
    """The review queue, oldest first: rule, risk, roles, votes so far, time left.

    Read from the gate's compacted state (workflow.gate.state) plus what the gate has
    not consumed yet: fast at any history length. Votes the gate counted show without
    time and reason; refused votes are in `review show`. Before any gate worker has
    run, the approvals, decisions and outcome topics are read whole.

    A progress line goes to stderr while the topics are read, when it is a terminal
    (not with --json). When a read hit --timeout, stderr says the list may be partial.
    """
    import asyncio

    from sluice import review
    from sluice.cli.progress import progress
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    with progress("reading the review queue", json_out=json_out) as on_progress:
        queue = asyncio.run(
            review.alist(
                role=role,
                settings=settings,
                registry=reviewers,
                timeout_s=timeout,
                on_progress=on_progress,
            )
        )
    for e in queue.entries:
        typer.echo(_dumps(e) if json_out else _line(e))
    if queue.partial:
        typer.echo(
            f"warning: reading the queue ({queue.source.replace('_', ' ')}) hit --timeout "
            f"{timeout:g}s; this list may be partial (raise --timeout)",
            err=True,
        )
    if not json_out and not queue.entries:
        typer.echo("no held events" + (f" for role {role}" if role else ""), err=True)


@review_app.command("show")
def show(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object."),
    bootstrap_servers: BootstrapServers = None,
    reviewers: str = _REVIEWERS,
    timeout: float = _TIMEOUT,
) -> None:
    """One held event: rule, votes so far, then the sanitized event as text with each
    finding marked ⟦…⟧ⁿ and listed (detector, severity, action, offsets)."""
    from sluice import review
    from sluice.gate.marks import render_detail, visible
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    view = review.show(event_id, settings=settings, registry=reviewers, timeout_s=timeout)
    if json_out:
        typer.echo(_dumps(view))
        return
    left = "EXPIRED" if view["expired"] else _duration(view["time_left_s"])
    typer.echo(f"event      {view['event_id']}  ({view['status']})")
    typer.echo(
        f"kind       {view['kind']}   actor {visible(view['actor_id'])}"
        + (f" on behalf of {visible(view['on_behalf_of'])}" if view["on_behalf_of"] else "")
    )
    typer.echo(
        f"rule       {view['rule']}" + (f"  ({visible(view['reason'])})" if view["reason"] else "")
    )
    typer.echo(f"risk       {view['risk']['score']:.2f}")
    typer.echo(
        f"needs      {view['approvals_required']} approval(s) from {', '.join(view['roles'])}; "
        f"on expiry {view['on_expiry']}; left {left}"
    )
    for r in view["requirements"]:
        got = "?" if r["approved_by"] is None else str(len(r["approved_by"]))
        typer.echo(f"  level {r['level']}: {r['role']} {got}/{r['count']}")
    typer.echo(f"hash       {view['content_hash']}")
    typer.echo(f"votes      {view['approvals']} approve, {view['rejections']} reject")
    for v in view["votes"]:
        mark = {True: "valid", False: f"refused: {v['refusal']}", None: "unchecked"}[v["valid"]]
        amended = v.get("amended_hash")
        typer.echo(
            f"  - {visible(str(v['reviewer_id']))} {v['verdict']} ({mark})"
            + (f" amended {visible(str(amended)[:12])}" if amended else "")
            + (f": {visible(v['reason'])}" if v["reason"] else "")
        )
    typer.echo(render_detail(view["event"], view["findings"]))


def _read_amendment(path: str) -> dict[str, Any]:
    """The JSON merge patch in ``path`` (one line naming the file when it is not one)."""
    from pathlib import Path

    import orjson

    from sluice.errors import ConfigError

    target = Path(path).expanduser()
    try:
        data = orjson.loads(target.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {target}: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise ConfigError(f"{target}: not JSON (a JSON merge patch is expected)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{target}: a JSON object (a merge patch) is expected")
    return data


def _decide(
    verdict: str,
    event_id: str,
    key: str,
    reason: str | None,
    bootstrap_servers: str | None,
    timeout: float,
    json_out: bool,
    wait: bool,
    amend: str | None = None,
) -> None:
    from sluice import review
    from sluice.settings import load_settings

    patch = _read_amendment(amend) if amend is not None else None
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    result = review.decide(
        "APPROVE" if verdict == "APPROVE" else "REJECT",
        event_id,
        key=key,
        reason=reason,
        wait=wait,
        timeout_s=timeout,
        settings=settings,
        on_warning=lambda line: typer.echo(f"warning: {line}", err=True),
        amend=patch,
    )
    if json_out:
        out: dict[str, Any] = {"decision": result.decision} if wait else result.decision
        if wait:
            out.update(
                status=result.status,
                refusal=result.refusal,
                counted=result.counted,
                outcome=result.outcome,
            )
        typer.echo(_dumps(out))
    else:
        typer.echo(result.summary() if wait else result.decision_id)
    if result.status == "refused":
        raise typer.Exit(1)
    if result.status == "pending":
        raise typer.Exit(3)


_KEY = typer.Option(..., "--key", help="Your private key file (from `sluice keys new`).")
_WAIT = typer.Option(
    False,
    "--wait",
    help="Wait for the outcome: prints approved/rejected, or the gate's refusal reason "
    "(exit 1), or pending after --timeout (exit 3).",
)
_DECIDE_TIMEOUT = typer.Option(
    30.0,
    "--timeout",
    min=1.0,
    help="Seconds to spend reading the topics; with --wait, also the longest wait.",
)


@review_app.command("approve")
def approve(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    key: str = _KEY,
    reason: str = typer.Option(None, "--reason", help="Why (optional for approve)."),
    json_out: bool = typer.Option(False, "--json", help="Print the signed decision as JSON."),
    bootstrap_servers: BootstrapServers = None,
    timeout: float = _DECIDE_TIMEOUT,
    wait: bool = _WAIT,
    amend: str = typer.Option(
        None,
        "--amend",
        help="Approve with amendments: a JSON merge patch (RFC 7396) on the sanitized "
        'event, e.g. {"arguments": {"cc": null}}. Amendable: content, arguments, '
        "resource, attributes. Checked and re-sanitized before signing; counts only with "
        "approvals of the same amended event.",
    ),
) -> None:
    """Sign and publish an APPROVE decision; prints its decision id (--wait: the outcome).

    With --amend FILE the decision carries the amended event and its hash: the gate
    releases the amended event once enough reviewers approved those same bytes."""
    _decide("APPROVE", event_id, key, reason, bootstrap_servers, timeout, json_out, wait, amend)


@review_app.command("reject")
def reject(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    key: str = _KEY,
    reason: str = typer.Option(None, "--reason", help="Why (required)."),
    json_out: bool = typer.Option(False, "--json", help="Print the signed decision as JSON."),
    bootstrap_servers: BootstrapServers = None,
    timeout: float = _DECIDE_TIMEOUT,
    wait: bool = _WAIT,
) -> None:
    """Sign and publish a REJECT decision (needs --reason); prints its decision id
    (--wait: the outcome)."""
    _decide("REJECT", event_id, key, reason, bootstrap_servers, timeout, json_out, wait)


def register(app: typer.Typer) -> None:
    """Add the ``review`` group."""
    app.add_typer(review_app, name="review")
