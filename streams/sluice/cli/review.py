"""``sluice review list|show|approve|reject``: the reviewer's side of the gate.

The queue is read from Kafka, never from a worker's memory (what it holds and shows:
:mod:`sluice.gate.queue`). ``approve``/``reject`` sign a Decision with the reviewer's
private key file and publish it to ``workflow.decisions`` keyed by event id; the gate
worker decides whether it counts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import typer

from sluice.cli.options import BootstrapServers
from sluice.clock import now_ms
from sluice.gate.queue import ReviewError

if TYPE_CHECKING:
    from sluice.gate.queue import QueueState
    from sluice.gate.reviewers import Registry
    from sluice.settings import Settings

__all__ = ["register"]

log = logging.getLogger(__name__)

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


# -- Kafka I/O ----------------------------------------------------------------------


def _load_state(
    settings: Settings,
    *,
    votes: bool = True,
    timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
) -> QueueState:
    import asyncio

    from sluice.gate.queue import queue_state, queue_topics
    from sluice.kafka.reads import read_key_values
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    wanted = queue_topics(topics, votes=votes)
    records = asyncio.run(
        read_key_values(settings, wanted, timeout_s=timeout_s, on_progress=on_progress)
    )
    return queue_state(topics, records, votes=votes)


def _registry(settings: Settings, path: str | None) -> Registry | None:
    from sluice.gate.reviewers import load_registry

    chosen = path or settings.reviewers_file
    return load_registry(chosen) if chosen else None


def _check_event_id(event_id: str) -> str:
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        raise ReviewError("EVENT_ID must be a UUID") from None


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

    A progress line goes to stderr while the topics are read, when it is a terminal
    (not with --json).
    """
    from sluice.cli.progress import progress
    from sluice.gate.queue import queue_entries
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    registry = _registry(settings, reviewers)
    with progress("reading the review queue", json_out=json_out) as on_progress:
        state = _load_state(settings, timeout_s=timeout, on_progress=on_progress)
    entries = queue_entries(state, now_ms(), role=role, registry=registry)
    for e in entries:
        typer.echo(_dumps(e) if json_out else _line(e))
    if not json_out and not entries:
        typer.echo("no held events" + (f" for role {role}" if role else ""), err=True)


@review_app.command("show")
def show(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object."),
    bootstrap_servers: BootstrapServers = None,
    reviewers: str = _REVIEWERS,
    timeout: float = _TIMEOUT,
) -> None:
    """One held event: the sanitized event, findings, rule, votes so far."""
    from sluice.gate.queue import detail_view
    from sluice.settings import load_settings

    event_id = _check_event_id(event_id)
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    registry = _registry(settings, reviewers)
    state = _load_state(settings, timeout_s=timeout)
    view = detail_view(state, event_id, now_ms(), registry)
    if json_out:
        typer.echo(_dumps(view))
        return
    left = "EXPIRED" if view["expired"] else _duration(view["time_left_s"])
    typer.echo(f"event      {event_id}  ({view['status']})")
    typer.echo(
        f"kind       {view['kind']}   actor {view['actor_id']}"
        + (f" on behalf of {view['on_behalf_of']}" if view["on_behalf_of"] else "")
    )
    typer.echo(f"rule       {view['rule']}" + (f"  ({view['reason']})" if view["reason"] else ""))
    typer.echo(f"risk       {view['risk']['score']:.2f}")
    typer.echo(
        f"needs      {view['approvals_required']} approval(s) from {', '.join(view['roles'])}; "
        f"on expiry {view['on_expiry']}; left {left}"
    )
    for r in view["requirements"]:
        got = "?" if r["approved_by"] is None else str(len(r["approved_by"]))
        typer.echo(f"  level {r['level']}: {r['role']} {got}/{r['count']}")
    typer.echo(f"hash       {view['content_hash']}")
    typer.echo(f"findings   {len(view['findings'])}")
    for f in view["findings"]:
        typer.echo(
            f"  - {f['kind']}/{f['detector']} in {f['field']} [{f['start']}:{f['end']}] "
            f"{f.get('severity', '')} {f.get('action', '')}"
        )
    typer.echo(f"votes      {view['approvals']} approve, {view['rejections']} reject")
    for v in view["votes"]:
        mark = {True: "valid", False: f"refused: {v['refusal']}", None: "unchecked"}[v["valid"]]
        typer.echo(
            f"  - {v['reviewer_id']} {v['verdict']} ({mark})"
            + (f": {v['reason']}" if v["reason"] else "")
        )
    typer.echo("event")
    typer.echo(_dumps(view["event"], pretty=True))


def _decide(
    verdict: str,
    event_id: str,
    key: str,
    reason: str | None,
    bootstrap_servers: str | None,
    timeout: float,
    json_out: bool,
) -> None:
    import asyncio

    from sluice.gate.queue import check_decidable, is_own_event
    from sluice.gate.signatures import build_decision, read_private_key, sign_decision
    from sluice.settings import load_settings

    event_id = _check_event_id(event_id)
    reason = (reason or "").strip()
    if verdict == "REJECT" and not reason:
        raise ReviewError("reject needs a non-empty --reason")
    key_file = read_private_key(key)
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    state = _load_state(settings, votes=False, timeout_s=timeout)
    now = now_ms()
    # Binds to the bytes actually held, and refuses a record that contradicts itself.
    held = check_decidable(state, event_id, now)
    if is_own_event(held, key_file.reviewer_id):
        typer.echo(
            "warning: you are this event's actor or principal; the gate will refuse "
            "this decision (separation of duties)",
            err=True,
        )
    decision = build_decision(
        event_id=event_id,
        verdict=verdict,
        reviewer_id=key_file.reviewer_id,
        key_id=key_file.key_id,
        content_hash=held["content_hash"],
        reason=reason,
        decided_at=now,
    )
    sign_decision(decision, key_file.private_key)
    asyncio.run(_publish(settings, decision))
    log.info(
        "published decision",
        extra={"decision_id": decision["decision_id"], "event_id": event_id, "verdict": verdict},
    )
    typer.echo(_dumps(decision) if json_out else decision["decision_id"])


async def _publish(settings: Settings, decision: dict[str, Any]) -> None:
    from aiokafka.errors import KafkaError

    from sluice.codec import default_codec
    from sluice.kafka import make_producer
    from sluice.topics import Topics

    topic = Topics.with_prefix(settings.topic_prefix).decisions
    value = default_codec().encode("Decision", decision)
    producer = make_producer(settings, linger_ms=0)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=decision["event_id"].encode())
    except KafkaError as exc:
        raise ReviewError(
            f"cannot publish to {topic} at {settings.bootstrap_servers} ({type(exc).__name__})"
        ) from None
    finally:
        await producer.stop()


_KEY = typer.Option(..., "--key", help="Your private key file (from `sluice keys new`).")


@review_app.command("approve")
def approve(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    key: str = _KEY,
    reason: str = typer.Option(None, "--reason", help="Why (optional for approve)."),
    json_out: bool = typer.Option(False, "--json", help="Print the signed decision as JSON."),
    bootstrap_servers: BootstrapServers = None,
    timeout: float = _TIMEOUT,
) -> None:
    """Sign and publish an APPROVE decision; prints its decision id."""
    _decide("APPROVE", event_id, key, reason, bootstrap_servers, timeout, json_out)


@review_app.command("reject")
def reject(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    key: str = _KEY,
    reason: str = typer.Option(None, "--reason", help="Why (required)."),
    json_out: bool = typer.Option(False, "--json", help="Print the signed decision as JSON."),
    bootstrap_servers: BootstrapServers = None,
    timeout: float = _TIMEOUT,
) -> None:
    """Sign and publish a REJECT decision (needs --reason); prints its decision id."""
    _decide("REJECT", event_id, key, reason, bootstrap_servers, timeout, json_out)


def register(app: typer.Typer) -> None:
    """Add the ``review`` group."""
    app.add_typer(review_app, name="review")
