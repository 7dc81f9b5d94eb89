"""``sluice review list|show|approve|reject``: the reviewer's side of the gate.

The queue is read from Kafka, never from a worker's memory: held events from
``workflow.approvals`` (the latest HeldEvent per event id), votes from
``workflow.decisions``, and events already released are dropped using the keys of
``workflow.events.approved`` / ``workflow.events.rejected``. Like the gate, the queue
keeps the first body held under an event id: a later HeldEvent with other content
(refused by the gate as ``duplicate_event_id``) neither replaces it nor, through its
rejected Outcome, removes the hold from the queue. ``approve``/``reject``
sign a Decision with the reviewer's private key file and publish it to
``workflow.decisions`` keyed by event id; the gate worker decides whether it counts.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from sluice.clock import now_ms
from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sluice.gate.reviewers import Registry
    from sluice.settings import Settings

__all__ = [
    "QueueState",
    "ReviewError",
    "build_decision",
    "queue_entries",
    "register",
]

log = logging.getLogger(__name__)

review_app = typer.Typer(
    help="Review held events: list, show, approve, reject.", no_args_is_help=True
)


class ReviewError(SluiceError):
    """The review command cannot go on (unknown event, already released, expired...)."""


@dataclass
class QueueState:
    """What the topics say about held events (built by :func:`_load_state`)."""

    #: event_id → latest HeldEvent record (decoded).
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: event_id → decoded Decisions, in topic order.
    votes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: event_id → "approved" | "rejected" for events already released.
    released: dict[str, str] = field(default_factory=dict)
    #: Records that could not be decoded, per topic (counted, never shown).
    undecodable: dict[str, int] = field(default_factory=dict)
    #: event_id → HeldEvents with a different body under a held id (ignored, counted).
    conflicts: dict[str, int] = field(default_factory=dict)

    def add_held(self, record: dict[str, Any]) -> None:
        """Keep the first body per event id; a later HeldEvent with the same content
        (the gate's escalation) updates roles and expiry, one with other content is
        ignored (the gate refuses it)."""
        eid = record["event_id"]
        first = self.held.get(eid)
        if first is not None and first["content_hash"] != record["content_hash"]:
            self.conflicts[eid] = self.conflicts.get(eid, 0) + 1
            return
        self.held[eid] = record

    def add_outcome(self, event_id: str, outcome: str, reason_code: str | None = None) -> None:
        """An Outcome was published; a refused duplicate does not release the hold."""
        if reason_code in _NOT_A_RELEASE or event_id not in self.held:
            return
        self.released[event_id] = outcome

    def add_vote(self, decision: dict[str, Any]) -> None:
        """Record one decision as published (valid or not; ``vote_view`` says which)."""
        self.votes.setdefault(decision["event_id"], []).append(decision)


#: Outcome reason codes of HeldEvents the gate refused: the original hold stays open.
_NOT_A_RELEASE = frozenset({"duplicate_event_id", "content_hash_mismatch"})


# -- pure views ---------------------------------------------------------------------


def _content_hash(held: Mapping[str, Any]) -> str:
    return hashlib.sha256(held["event"]).hexdigest()


def vote_view(
    decision: Mapping[str, Any], held: Mapping[str, Any], registry: Registry | None
) -> dict[str, Any]:
    """One vote as shown to reviewers; ``valid`` is None without a registry.

    ``refusal`` is the reason the signature check or the content hash binding refuses
    it (the gate may refuse further votes for role, self-approval, replay or expiry).
    """
    refusal: str | None = None
    if decision.get("content_hash") != held.get("content_hash"):
        refusal = "content_hash_mismatch"
    elif registry is not None:
        refusal = registry.check(decision)
    return {
        "decision_id": decision.get("decision_id"),
        "reviewer_id": decision.get("reviewer_id"),
        "verdict": decision.get("verdict"),
        "decided_at": decision.get("decided_at"),
        "key_id": decision.get("key_id"),
        "reason": decision.get("reason") or None,
        "valid": None if registry is None and refusal is None else refusal is None,
        "refusal": refusal,
    }


def risk_summary(held: Mapping[str, Any]) -> dict[str, Any]:
    """Score, finding counts per kind and the detectors that fired (no values, ever)."""
    kinds: dict[str, int] = {}
    detectors: list[str] = []
    for f in held.get("findings") or []:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        if f["detector"] not in detectors:
            detectors.append(f["detector"])
    return {"score": held.get("risk_score", 0.0), "kinds": kinds, "detectors": detectors}


def requirement_progress(
    held: Mapping[str, Any], approvers: Iterable[str], registry: Registry | None
) -> dict[str, Any]:
    """Per-role and per-level progress of a hold (``None`` where roles are unknown).

    ``approvers`` are reviewer ids with a valid APPROVE. Without a registry the roles of
    reviewers are unknown, so progress is None. The gate decides; this is a view (it
    does not know at which level each vote was counted).
    """
    from sluice.gate.quorum import match_count
    from sluice.identity import fold_id

    reqs = [
        {"role": r["role"], "count": int(r["count"]), "level": int(r.get("level") or 1)}
        for r in held.get("requirements") or []
    ]
    groups = (
        [(frozenset({r["role"]}), r["count"], r["level"]) for r in reqs]
        if reqs
        else [(frozenset(held["roles"]), max(1, int(held["approvals"])), 1)]
    )
    unique: dict[str, str] = {}
    for rid in approvers:
        unique.setdefault(fold_id(rid), rid)
    roles: dict[str, frozenset[str]] | None = None
    if registry is not None:
        roles = {}
        for rid in unique.values():
            reviewer = registry.reviewer(rid)
            roles[rid] = frozenset(reviewer.roles) if reviewer is not None else frozenset()
    max_level = max(g[2] for g in groups)
    voters = [(r, max_level) for r in roles.values()] if roles is not None else []
    levels = []
    for level in sorted({g[2] for g in groups}):
        upto = [g for g in groups if g[2] <= level]
        complete = None if roles is None else match_count(upto, voters) >= sum(g[1] for g in upto)
        levels.append({"level": level, "complete": complete})
    for r in reqs:
        by = None if roles is None else sorted(i for i, rs in roles.items() if r["role"] in rs)
        r["approved_by"] = by
        r["met"] = None if by is None else len(by) >= r["count"]
    current = next((lv["level"] for lv in levels if lv["complete"] is False), None)
    return {"requirements": reqs, "levels": levels, "current_level": current}


def entry_view(
    held: Mapping[str, Any],
    votes: Iterable[Mapping[str, Any]],
    now_ms: int,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """One queue entry (the ``--json`` object of ``review list``)."""
    vote_list = [vote_view(d, held, registry) for d in votes]
    approvers = {
        v["reviewer_id"] for v in vote_list if v["verdict"] == "APPROVE" and v["valid"] is not False
    }
    rejecters = {
        v["reviewer_id"] for v in vote_list if v["verdict"] == "REJECT" and v["valid"] is not False
    }
    left_ms = int(held["expires_at"]) - now_ms
    return {
        "event_id": held["event_id"],
        "run_id": held["run_id"],
        "workflow_id": held["workflow_id"],
        "kind": held["kind"],
        "actor_id": held["actor_id"],
        "on_behalf_of": held.get("on_behalf_of"),
        "trace_id": held.get("trace_id"),
        "rule": held["rule"],
        "reason": held.get("reason"),
        "policy_hash": held.get("policy_hash"),
        "risk": risk_summary(held),
        "roles": list(held["roles"]),
        "approvals_required": held["approvals"],
        "approvals": len(approvers),
        "rejections": len(rejecters),
        "votes": vote_list,
        "on_expiry": held.get("on_expiry", "REJECT"),
        "received_at": held.get("received_at"),
        "held_at": held["held_at"],
        "expires_at": held["expires_at"],
        "time_left_s": round(max(left_ms, 0) / 1000.0, 3),
        "expired": left_ms <= 0,
        "content_hash": held["content_hash"],
        **requirement_progress(held, sorted(approvers), registry),
    }


def queue_entries(
    state: QueueState,
    now_ms: int,
    *,
    role: str | None = None,
    registry: Registry | None = None,
) -> list[dict[str, Any]]:
    """The review queue: held and not released, oldest first, optionally for one role."""
    entries = [
        entry_view(held, state.votes.get(eid, ()), now_ms, registry)
        for eid, held in state.held.items()
        if eid not in state.released and (role is None or role in held["roles"])
    ]
    entries.sort(key=lambda e: (e["held_at"], e["received_at"] or 0, e["event_id"]))
    return entries


def build_decision(
    *,
    event_id: str,
    verdict: str,
    reviewer_id: str,
    key_id: str,
    content_hash: str,
    reason: str = "",
    decided_at: int | None = None,
    decision_id: str | None = None,
) -> dict[str, Any]:
    """An unsigned Decision record (sign it with ``sign_decision``)."""
    return {
        "decision_id": decision_id or str(uuid.uuid4()),
        "event_id": event_id,
        "verdict": verdict,
        "reviewer_id": reviewer_id,
        "reason": reason,
        "decided_at": now_ms() if decided_at is None else decided_at,
        "key_id": key_id,
        "content_hash": content_hash,
        "signature": b"",
    }


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


async def _collect(
    settings: Settings, topic: str, timeout_s: float
) -> list[tuple[bytes | None, bytes | None]]:
    from aiokafka.errors import KafkaError

    from sluice.kafka import read_topic

    try:
        return [
            (rec.key, rec.value) async for rec in read_topic(settings, topic, timeout_s=timeout_s)
        ]
    except KafkaError as exc:
        raise ReviewError(
            f"cannot read {topic} from Kafka at {settings.bootstrap_servers} ({type(exc).__name__})"
        ) from None


async def _load_state(
    settings: Settings, *, votes: bool = True, timeout_s: float = 30.0
) -> QueueState:
    import asyncio

    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    wanted = [topics.approvals, topics.approved, topics.rejected]
    if votes:
        wanted.append(topics.decisions)
    results = await asyncio.gather(*(_collect(settings, t, timeout_s) for t in wanted))
    by_topic = dict(zip(wanted, results, strict=True))
    codec = default_codec()
    state = QueueState()

    def decode(topic: str, name: str, value: bytes | None) -> dict[str, Any] | None:
        if value is None:  # a tombstone
            return None
        try:
            return codec.decode(name, value)
        except DecodeError as exc:
            state.undecodable[topic] = state.undecodable.get(topic, 0) + 1
            log.warning("skipped undecodable record", extra={"topic": topic, "code": str(exc.code)})
            return None

    for _key, value in by_topic[topics.approvals]:
        held = decode(topics.approvals, "HeldEvent", value)
        if held is not None:
            state.add_held(held)
    for topic, outcome in ((topics.approved, "approved"), (topics.rejected, "rejected")):
        for key, value in by_topic[topic]:
            eid = key.decode("utf-8", "replace") if key else None
            if eid is not None and eid not in state.held:
                continue
            rec = decode(topic, "Outcome", value)
            if rec is not None:
                state.add_outcome(eid or rec["event_id"], outcome, rec.get("reason_code"))
            elif eid is not None:
                state.add_outcome(eid, outcome)
    if votes:
        for _key, value in by_topic[topics.decisions]:
            d = decode(topics.decisions, "Decision", value)
            if d is not None:
                state.add_vote(d)
    return state


def _settings(bootstrap_servers: str | None) -> Settings:
    from sluice.settings import load_settings

    return load_settings(bootstrap_servers=bootstrap_servers)


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


_BOOTSTRAP = typer.Option(None, "--bootstrap-servers", help="Kafka bootstrap servers.")
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
    bootstrap_servers: str = _BOOTSTRAP,
    reviewers: str = _REVIEWERS,
    timeout: float = _TIMEOUT,
) -> None:
    """The review queue, oldest first: rule, risk, roles, votes so far, time left."""
    import asyncio

    settings = _settings(bootstrap_servers)
    registry = _registry(settings, reviewers)
    state = asyncio.run(_load_state(settings, timeout_s=timeout))
    entries = queue_entries(state, now_ms(), role=role, registry=registry)
    for e in entries:
        typer.echo(_dumps(e) if json_out else _line(e))
    if not json_out and not entries:
        typer.echo("no held events" + (f" for role {role}" if role else ""), err=True)


@review_app.command("show")
def show(
    event_id: str = typer.Argument(..., help="Event id of a held event."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object."),
    bootstrap_servers: str = _BOOTSTRAP,
    reviewers: str = _REVIEWERS,
    timeout: float = _TIMEOUT,
) -> None:
    """One held event: the sanitized event, findings, rule, votes so far."""
    import asyncio

    from sluice.codec import default_codec
    from sluice.errors import DecodeError

    event_id = _check_event_id(event_id)
    settings = _settings(bootstrap_servers)
    registry = _registry(settings, reviewers)
    state = asyncio.run(_load_state(settings, timeout_s=timeout))
    held = state.held.get(event_id)
    if held is None:
        raise ReviewError(f"no held event {event_id} in the approvals topic")
    view = entry_view(held, state.votes.get(event_id, ()), now_ms(), registry)
    view["status"] = state.released.get(event_id, "held")
    view["findings"] = held.get("findings") or []
    try:
        view["event"] = default_codec().decode("WorkflowEvent", held["event"])
    except DecodeError as exc:
        raise ReviewError(f"held event {event_id} cannot be decoded ({exc.code})") from None
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

    from sluice.gate.signatures import read_private_key, sign_decision

    event_id = _check_event_id(event_id)
    reason = (reason or "").strip()
    if verdict == "REJECT" and not reason:
        raise ReviewError("reject needs a non-empty --reason")
    key_file = read_private_key(key)
    settings = _settings(bootstrap_servers)
    state = asyncio.run(_load_state(settings, votes=False, timeout_s=timeout))
    held = state.held.get(event_id)
    if held is None:
        raise ReviewError(f"no held event {event_id} in the approvals topic")
    if event_id in state.released:
        raise ReviewError(f"event {event_id} was already {state.released[event_id]}")
    now = now_ms()
    if int(held["expires_at"]) <= now:
        raise ReviewError(f"the hold on {event_id} has expired")
    # Bind to the bytes we actually hold, and refuse a record that contradicts itself.
    content_hash = _content_hash(held)
    if content_hash != held["content_hash"]:
        raise ReviewError(f"held event {event_id} does not match its content hash; not signing")
    from sluice.identity import fold_id

    principals = {fold_id(p) for p in (held["actor_id"], held.get("on_behalf_of")) if p}
    if fold_id(key_file.reviewer_id) in principals:
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
        content_hash=content_hash,
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
    bootstrap_servers: str = _BOOTSTRAP,
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
    bootstrap_servers: str = _BOOTSTRAP,
    timeout: float = _TIMEOUT,
) -> None:
    """Sign and publish a REJECT decision (needs --reason); prints its decision id."""
    _decide("REJECT", event_id, key, reason, bootstrap_servers, timeout, json_out)


def register(app: typer.Typer) -> None:
    """Add the ``review`` group."""
    app.add_typer(review_app, name="review")
