"""The operator's side of quarantines: sign and publish controls, read what is in force.

``sluice quarantine add|lift|list`` is a thin front end to these functions; the list is
folded from ``workflow.controls`` with the same :class:`~sluice.quarantine.Controls` the
workers run (same registry, same policy), so it shows what a worker holds in force.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.clock import now_ms
from sluice.errors import SluiceError
from sluice.quarantine.records import (
    Action,
    Mode,
    SubjectType,
    build_control,
    control_key,
    decode_control,
    encode_control,
    sign_control,
)
from sluice.quarantine.state import Applied, Controls, Quarantine
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = [
    "ControlLog",
    "QuarantineError",
    "add_quarantine",
    "lift_quarantine",
    "matching_holds",
    "read_controls",
    "reject_open_holds",
]


class QuarantineError(SluiceError):
    """A quarantine command cannot go on (one line: what and why)."""


@dataclass
class ControlLog:
    """The controls topic folded: what is in force, and what each record did."""

    controls: Controls
    #: (partition, offset, what it did), in the order read.
    applied: list[tuple[int, int, Applied]]

    def in_force(self) -> list[Quarantine]:
        return self.controls.in_force(now_ms())


def _settings_and_topics(settings: Settings | None) -> tuple[Settings, Topics]:
    if settings is None:
        from sluice.settings import load_settings

        settings = load_settings()
    return settings, Topics.with_prefix(settings.topic_prefix)


def _controls(settings: Settings) -> Controls:
    from sluice.gate.reviewers import Registry, load_registry
    from sluice.quarantine.config import load_quarantine_config

    registry = (
        load_registry(settings.reviewers_file)
        if settings.reviewers_file is not None
        else Registry([])
    )
    return Controls(registry, load_quarantine_config(settings.policy_file))


async def read_controls(settings: Settings | None = None, *, timeout_s: float = 30.0) -> ControlLog:
    """Fold every record of ``workflow.controls`` (registry and policy from settings)."""
    from sluice.kafka import read_topic

    settings, topics = _settings_and_topics(settings)
    controls = _controls(settings)
    applied: list[tuple[int, int, Applied]] = []
    try:
        async for rec in read_topic(settings, topics.controls, timeout_s=timeout_s):
            applied.append(
                (rec.partition, rec.offset, controls.apply(decode_control(rec.value), now_ms()))
            )
    except Exception as exc:
        raise QuarantineError(
            f"cannot read {topics.controls} at {settings.bootstrap_servers} ({type(exc).__name__})"
        ) from None
    return ControlLog(controls, applied)


async def _publish(settings: Settings, topics: Topics, control: dict[str, Any]) -> None:
    from aiokafka.errors import KafkaError

    from sluice.kafka import make_producer

    producer = make_producer(settings, linger_ms=0)
    try:
        await producer.start()
        await producer.send_and_wait(
            topics.controls, encode_control(control), key=control_key(control), partition=0
        )
    except KafkaError as exc:
        raise QuarantineError(
            f"cannot publish to {topics.controls} at {settings.bootstrap_servers}"
            f" ({type(exc).__name__})"
        ) from None
    finally:
        await producer.stop()


def _signed(key: str | Path, **fields: Any) -> dict[str, Any]:
    from sluice.gate.signatures import read_private_key

    pk = read_private_key(key)
    control = build_control(reviewer_id=pk.reviewer_id, key_id=pk.key_id, **fields)
    sign_control(control, pk.private_key)
    return control


async def add_quarantine(
    subject_type: SubjectType | str,
    subject: str,
    *,
    reason: str,
    key: str | Path,
    mode: Mode | str = Mode.HOLD,
    until_ms: int = 0,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Sign and publish an ``add``; returns the signed control (its id is the quarantine's).

    Raises:
        QuarantineError: no reason, ``until`` already past, or Kafka unreachable.
    """
    if not reason.strip():
        raise QuarantineError("a quarantine needs --reason")
    if until_ms and until_ms <= now_ms():
        raise QuarantineError("--until is in the past")
    settings, topics = _settings_and_topics(settings)
    control = _signed(
        key,
        action=Action.ADD,
        subject_type=subject_type,
        subject=subject,
        reason=reason,
        mode=mode,
        until=until_ms,
    )
    await _publish(settings, topics, control)
    return control


async def lift_quarantine(
    quarantine_id: str,
    *,
    key: str | Path,
    reason: str = "",
    settings: Settings | None = None,
    timeout_s: float = 30.0,
) -> tuple[dict[str, Any], Quarantine]:
    """Sign and publish one lift vote for a quarantine in force.

    Raises:
        QuarantineError: no such quarantine in force, or Kafka unreachable.
    """
    settings, topics = _settings_and_topics(settings)
    log = await read_controls(settings, timeout_s=timeout_s)
    q = next((q for q in log.in_force() if q.id == quarantine_id), None)
    if q is None:
        raise QuarantineError(f"no quarantine {quarantine_id} in force")
    control = _signed(
        key,
        action=Action.LIFT,
        quarantine_id=q.id,
        subject_type=q.subject_type,
        subject=q.subject,
        reason=reason,
    )
    await _publish(settings, topics, control)
    return control, q


_SUBJECT_FIELD = {"actor": "actor_id", "workflow": "workflow_id", "run": "run_id"}


def matching_holds(
    entries: list[dict[str, Any]], subject_type: str, subject: str
) -> list[dict[str, Any]]:
    """The open, unexpired queue entries of one subject (look-alike ids included)."""
    from sluice.identity import skeleton_id

    name = _SUBJECT_FIELD[str(subject_type)]
    want = skeleton_id(subject)
    return [e for e in entries if not e["expired"] and skeleton_id(str(e.get(name) or "")) == want]


async def reject_open_holds(
    control: dict[str, Any],
    *,
    key: str | Path,
    settings: Settings | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Sign and publish a REJECT for every open hold of a quarantine's subject.

    The decisions go through the gate like any reviewer's: each counts where the
    signer holds a role the hold asks for (otherwise the gate refuses and audits it).
    Returns the event ids a REJECT was published for.
    """
    from sluice import review
    from sluice.gate.signatures import build_decision, read_private_key, sign_decision

    settings, _ = _settings_and_topics(settings)
    pk = read_private_key(key)
    queue = await review.alist(settings=settings, timeout_s=timeout_s)
    reason = f"quarantine {control['quarantine_id']}: {control['reason']}"[:500]
    done: list[str] = []
    for e in matching_holds(queue.entries, control["subject_type"], control["subject"]):
        decision = build_decision(
            event_id=e["event_id"],
            verdict="REJECT",
            reviewer_id=pk.reviewer_id,
            key_id=pk.key_id,
            content_hash=e["content_hash"],
            reason=reason,
        )
        sign_decision(decision, pk.private_key)
        await review.apublish(settings, decision)
        done.append(e["event_id"])
    return done


def run(coro: Any) -> Any:
    """Run one of these coroutines from synchronous code (the CLI)."""
    return asyncio.run(coro)
