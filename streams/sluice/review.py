"""The programmatic reviewer: list, show, approve and reject held events from Python.

For bots and scripts, and shared by ``sluice review`` and the web console, so every
reviewer front end reads the queue and publishes decisions the same way::

    import sluice.review

    queue = sluice.review.list(role="security")
    for entry in queue.entries:
        view = sluice.review.show(entry["event_id"])
    result = sluice.review.approve(event_id, key="~/.sluice/alice.key", wait=True)
    if result.status == "refused":
        print(result.refusal)  # e.g. "self_approval"
    # approve with amendments: a JSON merge patch (RFC 7396) on the sanitized event
    sluice.review.approve(event_id, key=key, amend={"arguments": {"cc": None}})

The queue is read from Kafka (what it holds: :mod:`sluice.gate.queue`), never from a
worker's memory. A decision is signed here with the reviewer's private key file and
published to ``workflow.decisions`` keyed by event id; the gate worker decides whether
it counts. With ``wait=True`` the call follows the outcome topics and the gate's audit
records from before publishing until it sees what became of *this* decision: the
release (``approved``/``rejected``, the Outcome record), the gate's refusal (its
:class:`sluice.gate.votes.Refusal` reason, from the ``decision_refused`` audit record),
or the timeout (``pending``; ``counted`` says whether the vote counted).

Every function has an ``a``-prefixed coroutine twin (``alist``, ``ashow``,
``aapprove``, ``areject``, ``apublish``) for use inside an event loop; the plain
functions run it with :func:`asyncio.run`.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sluice.clock import now_ms
from sluice.gate.queue import ReviewError
from sluice.review_wait import DecisionResult, Status

if TYPE_CHECKING:
    from sluice.gate.queue import QueueState
    from sluice.gate.reviewers import Registry
    from sluice.gate.signatures import PrivateKeyFile
    from sluice.settings import Settings

__all__ = [
    "DecisionResult",
    "Queue",
    "ReviewError",
    "Status",
    "aapprove",
    "adecide",
    "alist",
    "approve",
    "apublish",
    "areject",
    "ashow",
    "check_event_id",
    "decide",
    "list",
    "reject",
    "show",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Queue:
    """The review queue as read (:func:`list`)."""

    #: Queue entries, oldest first (:func:`sluice.gate.queue.entry_view` objects).
    entries: builtins.list[dict[str, Any]]
    #: True when a topic read hit the timeout: the queue may miss holds or votes.
    partial: bool = False
    #: Records that could not be decoded, per topic (skipped).
    undecodable: dict[str, int] = field(default_factory=dict)
    #: Where the queue was read: "gate_state" (the gate's compacted table plus what it
    #: has not consumed yet) or "topics" (the whole approvals, decisions and outcome
    #: topics, when no gate has committed yet).
    source: str = "gate_state"


# -- helpers ------------------------------------------------------------------------


def check_event_id(event_id: str) -> str:
    """``event_id`` in canonical UUID form.

    Raises:
        ReviewError: not a UUID.
    """
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        raise ReviewError("EVENT_ID must be a UUID") from None


def _settings(settings: Settings | None) -> Settings:
    from sluice.settings import load_settings

    return settings if settings is not None else load_settings()


def _registry(settings: Settings, registry: Registry | str | Path | None) -> Registry | None:
    from sluice.gate.reviewers import Registry, load_registry

    if isinstance(registry, Registry):
        return registry
    chosen = registry or settings.reviewers_file
    return load_registry(chosen) if chosen else None


async def _load_state(
    settings: Settings,
    *,
    votes: bool = True,
    timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[QueueState, bool]:
    """The queue state and whether a topic read hit ``timeout_s`` (may be partial)."""
    from sluice.gate.queue import queue_state, queue_topics
    from sluice.kafka.reads import read_key_values
    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    wanted = queue_topics(topics, votes=votes)
    loop = asyncio.get_running_loop()
    started = loop.time()
    records = await read_key_values(settings, wanted, timeout_s=timeout_s, on_progress=on_progress)
    # read_topic stops at the deadline without saying so; a read this long reached it.
    partial = loop.time() - started >= timeout_s
    return queue_state(topics, records, votes=votes), partial


# -- reading ------------------------------------------------------------------------


async def alist(
    *,
    role: str | None = None,
    settings: Settings | None = None,
    registry: Registry | str | Path | None = None,
    timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
) -> Queue:
    """The review queue, oldest first; ``role``: only events that role may decide.

    ``registry`` (a :class:`~sluice.gate.reviewers.Registry` or its file; default
    ``$SLUICE_REVIEWERS_FILE``) checks the votes shown. ``on_progress(k)`` is called as
    records are read.

    Read from the gate's compacted state (:mod:`sluice.review_state`): fast at any
    history length. Votes the gate counted have ``decided_at``/``reason`` None; votes
    it refused are not listed (``show`` has them). Without a gate state (no gate has
    committed yet) the topics are read whole (``Queue.source == "topics"``).

    Raises:
        KafkaReadError: Kafka could not be read.
    """
    from sluice.gate.queue import queue_entries
    from sluice.gate.snapshot import snapshot_entries
    from sluice.review_state import load_snapshot

    settings = _settings(settings)
    reg = _registry(settings, registry)
    snap, partial = await load_snapshot(settings, timeout_s=timeout_s, on_progress=on_progress)
    if snap is not None:
        entries = snapshot_entries(snap, now_ms(), role=role, registry=reg)
        undecodable = dict(snap.state.undecodable)
        return Queue(entries=entries, partial=partial, undecodable=undecodable)
    # No gate state yet (no gate worker has committed): the topics themselves.
    state, partial = await _load_state(settings, timeout_s=timeout_s, on_progress=on_progress)
    entries = queue_entries(state, now_ms(), role=role, registry=reg)
    return Queue(
        entries=entries, partial=partial, undecodable=dict(state.undecodable), source="topics"
    )


async def ashow(
    event_id: str,
    *,
    settings: Settings | None = None,
    registry: Registry | str | Path | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """One held event (:func:`sluice.gate.queue.detail_view`): status, rule, votes,
    findings and the decoded sanitized event.

    Raises:
        ReviewError: not a UUID, no such hold, or its event does not decode.
    """
    from sluice.gate.queue import detail_view

    event_id = check_event_id(event_id)
    settings = _settings(settings)
    reg = _registry(settings, registry)
    state, _ = await _load_state(settings, timeout_s=timeout_s)
    return detail_view(state, event_id, now_ms(), reg)


# -- deciding -----------------------------------------------------------------------


async def apublish(settings: Settings, decision: Mapping[str, Any]) -> None:
    """Publish a signed Decision to ``workflow.decisions`` keyed by its event id.

    Raises:
        ReviewError: Kafka refused or could not be reached.
    """
    from aiokafka.errors import KafkaError

    from sluice.codec import default_codec
    from sluice.kafka import make_producer
    from sluice.topics import Topics

    topic = Topics.with_prefix(settings.topic_prefix).decisions
    value = default_codec().encode("Decision", dict(decision))
    producer = make_producer(settings, linger_ms=0)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=str(decision["event_id"]).encode())
    except KafkaError as exc:
        raise ReviewError(
            f"cannot publish to {topic} at {settings.bootstrap_servers} ({type(exc).__name__})"
        ) from None
    finally:
        await producer.stop()


async def adecide(
    verdict: Literal["APPROVE", "REJECT"],
    event_id: str,
    *,
    key: str | Path,
    reason: str | None = None,
    wait: bool = False,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
    on_warning: Callable[[str], None] | None = None,
    amend: Mapping[str, Any] | None = None,
) -> DecisionResult:
    """Sign ``verdict`` on the held bytes of ``event_id`` with the key file ``key`` and
    publish it; with ``wait``, follow it until released, refused or ``timeout_s``.

    ``amend`` (APPROVE only): approve with amendments, given as a JSON merge patch
    (RFC 7396) on the sanitized event (``null`` drops a key). The amended event is
    checked here as the gate will check it (:mod:`sluice.gate.amend`: amendable
    fields, field rules, re-sanitization) and the decision carries it and its hash,
    signed. It counts only with approvals of the same amended bytes.

    ``timeout_s`` bounds reading the queue, and then the wait. ``on_warning`` gets a
    line when the gate will surely refuse (the key's reviewer is the event's actor or
    principal); the decision is published anyway, so the refusal is on record.

    Raises:
        ReviewError: not a UUID, a REJECT without reason, no such hold, already
            released, expired, its bytes do not match its hash, an amendment that does
            not pass (the gate's refusal reason and why), or Kafka refused.
        ConfigError: the key file cannot be read.
    """
    from sluice.gate.amend import AmendmentError, prepare_for
    from sluice.gate.queue import check_decidable, is_own_event
    from sluice.gate.signatures import build_decision, sign_decision
    from sluice.review_wait import Watch

    event_id = check_event_id(event_id)
    reason = (reason or "").strip()
    if verdict == "REJECT" and not reason:
        raise ReviewError("reject needs a non-empty --reason")
    if amend is not None and verdict != "APPROVE":
        raise ReviewError("only an approval can carry amendments")
    key_file = _read_key(key)
    settings = _settings(settings)
    state, _ = await _load_state(settings, votes=False, timeout_s=timeout_s)
    now = now_ms()
    # Binds to the bytes actually held, and refuses a record that contradicts itself.
    held = check_decidable(state, event_id, now)
    if is_own_event(held, key_file.reviewer_id) and on_warning is not None:
        on_warning(
            "you are this event's actor or principal; the gate will refuse "
            "this decision (separation of duties)"
        )
    try:
        amended = prepare_for(settings, held, amend) if amend is not None else None
    except AmendmentError as exc:
        raise ReviewError(f"amendment refused ({exc.refusal.value}): {exc}") from None
    decision = build_decision(
        event_id=event_id,
        verdict=verdict,
        reviewer_id=key_file.reviewer_id,
        key_id=key_file.key_id,
        content_hash=held["content_hash"],
        reason=reason,
        decided_at=now,
        amended_event=amended,
    )
    sign_decision(decision, key_file.private_key)
    if not wait:
        await apublish(settings, decision)
        _logged(decision)
        return DecisionResult(decision)
    # Positioned at the topics' ends before publishing: nothing about it is missed.
    async with Watch(settings, event_id, decision["decision_id"]) as watch:
        await apublish(settings, decision)
        _logged(decision)
        seen = await watch.result(timeout_s)
    return DecisionResult(
        decision,
        status=seen.status,
        refusal=seen.refusal,
        counted=seen.counted,
        outcome=seen.outcome,
    )


def _read_key(key: str | Path) -> PrivateKeyFile:
    """The reviewer's private key file (``~`` expanded; a small local read)."""
    from sluice.gate.signatures import read_private_key

    return read_private_key(Path(key).expanduser())


def _logged(decision: Mapping[str, Any]) -> None:
    log.info(
        "published decision",
        extra={
            "decision_id": decision["decision_id"],
            "event_id": decision["event_id"],
            "verdict": decision["verdict"],
            "amended_hash": decision.get("amended_hash"),
        },
    )


async def aapprove(
    event_id: str,
    *,
    key: str | Path,
    reason: str | None = None,
    wait: bool = False,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
    amend: Mapping[str, Any] | None = None,
) -> DecisionResult:
    """Sign and publish an APPROVE, with ``amend``: approve with amendments (see
    :func:`adecide`)."""
    return await adecide(
        "APPROVE",
        event_id,
        key=key,
        reason=reason,
        wait=wait,
        timeout_s=timeout_s,
        settings=settings,
        amend=amend,
    )


async def areject(
    event_id: str,
    *,
    key: str | Path,
    reason: str,
    wait: bool = False,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
) -> DecisionResult:
    """Sign and publish a REJECT; ``reason`` must show something (see :func:`adecide`)."""
    return await adecide(
        "REJECT",
        event_id,
        key=key,
        reason=reason,
        wait=wait,
        timeout_s=timeout_s,
        settings=settings,
    )


# -- sync wrappers (not inside a running event loop) ---------------------------------


# ``list`` shadows the builtin in this module on purpose: ``sluice.review.list`` is the
# promised public name (annotations here use ``builtins.list``).
def list(
    *,
    role: str | None = None,
    settings: Settings | None = None,
    registry: Registry | str | Path | None = None,
    timeout_s: float = 30.0,
) -> Queue:
    """Blocking :func:`alist`."""
    return asyncio.run(alist(role=role, settings=settings, registry=registry, timeout_s=timeout_s))


def show(
    event_id: str,
    *,
    settings: Settings | None = None,
    registry: Registry | str | Path | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Blocking :func:`ashow`."""
    return asyncio.run(ashow(event_id, settings=settings, registry=registry, timeout_s=timeout_s))


def decide(
    verdict: Literal["APPROVE", "REJECT"],
    event_id: str,
    *,
    key: str | Path,
    reason: str | None = None,
    wait: bool = False,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
    on_warning: Callable[[str], None] | None = None,
    amend: Mapping[str, Any] | None = None,
) -> DecisionResult:
    """Blocking :func:`adecide`."""
    return asyncio.run(
        adecide(
            verdict,
            event_id,
            key=key,
            reason=reason,
            wait=wait,
            timeout_s=timeout_s,
            settings=settings,
            on_warning=on_warning,
            amend=amend,
        )
    )


def approve(
    event_id: str,
    *,
    key: str | Path,
    reason: str | None = None,
    wait: bool = False,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
    amend: Mapping[str, Any] | None = None,
) -> DecisionResult:
    """Blocking :func:`aapprove`."""
    return decide(
        "APPROVE",
        event_id,
        key=key,
        reason=reason,
        wait=wait,
        timeout_s=timeout_s,
        settings=settings,
        amend=amend,
    )


def reject(
    event_id: str,
    *,
    key: str | Path,
    reason: str,
    wait: bool = False,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
) -> DecisionResult:
    """Blocking :func:`areject`."""
    return decide(
        "REJECT",
        event_id,
        key=key,
        reason=reason,
        wait=wait,
        timeout_s=timeout_s,
        settings=settings,
    )
