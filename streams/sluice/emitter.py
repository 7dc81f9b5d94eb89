"""The upstream side: publish WorkflowEvents that sluice will accept.

    async with Emitter() as emitter:
        await emitter.emit({"event_id": ..., "kind": "TOOL_CALL", ...})

The event is validated against the contract (schema and field rules) before it is
sent, so a bad event fails fast in the caller, not later in the DLQ. With a producer
key (``producer_key=`` or ``SLUICE_PRODUCER_KEY_FILE``) every record carries the
``sluice.producer.v1`` headers (:mod:`sluice.producers`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from sluice.codec import Codec, default_codec
from sluice.errors import EmitError, RejectedRecord
from sluice.kafka_io import make_producer
from sluice.models.records import event_optional_fields
from sluice.producers import ProducerSigner, read_producer_key
from sluice.settings import Settings, load_settings
from sluice.topics import Topics
from sluice.validate import Validator

__all__ = ["Emitter", "prepare_event"]


def prepare_event(
    event: dict[str, Any],
    codec: Codec | None = None,
    validator: Validator | None = None,
    now_ms: int | None = None,
) -> bytes:
    """Fill defaults, validate and encode one event.

    Defaults: ``event_id`` (new UUID4), ``occurred_at`` (now); a ``datetime``
    occurred_at is converted to ms.

    Raises:
        EmitError: the event breaks the contract (the message names the field and rule).
    """
    codec = codec or default_codec()
    validator = validator or Validator()
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    ev = dict(event)
    ev.setdefault("event_id", str(uuid.uuid4()))
    occurred = ev.setdefault("occurred_at", now)
    if isinstance(occurred, dt.datetime):
        ev["occurred_at"] = int(occurred.timestamp() * 1000)
    ev.setdefault("attributes", {})
    for opt in event_optional_fields():  # the fields whose schema default is null
        ev.setdefault(opt, None)
    if isinstance(ev.get("actor"), dict):
        ev["actor"] = {"roles": [], **ev["actor"]}
    if isinstance(ev.get("model"), dict):
        ev["model"] = {"version": None, "provider": None, **ev["model"]}
    if isinstance(ev.get("confidence"), int) and not isinstance(ev.get("confidence"), bool):
        ev["confidence"] = float(ev["confidence"])
    if isinstance(ev.get("cost_usd"), int) and not isinstance(ev.get("cost_usd"), bool):
        ev["cost_usd"] = float(ev["cost_usd"])
    try:
        validator.validate(ev, now)
    except RejectedRecord as exc:
        raise EmitError(f"invalid event: {exc}") from None
    try:
        return codec.encode("WorkflowEvent", ev)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise EmitError("invalid event: does not fit the WorkflowEvent schema") from None


class Emitter:
    """Async publisher of WorkflowEvents to ``workflow.events`` (key: run_id).

    Idempotent producer, acks=all. ``settings`` defaults to the environment.
    ``producer_key`` signs every record; default: ``settings.producer_key_file``.

    Raises:
        ConfigError: the producer key file is unusable.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        topic: str | None = None,
        producer_key: ProducerSigner | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.topic = topic or Topics.with_prefix(self.settings.topic_prefix).events
        if producer_key is None and self.settings.producer_key_file is not None:
            producer_key = read_producer_key(self.settings.producer_key_file)
        self.producer_key = producer_key
        self._codec = default_codec()
        self._validator = Validator()
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect. Raises RuntimeError if already started."""
        if self._producer is not None:
            raise RuntimeError("Emitter already started")
        self._producer = make_producer(self.settings)
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect; safe twice."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> Emitter:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def emit(self, event: dict[str, Any], *, wait: bool = True) -> str:
        """Validate, encode and publish ``event``; returns its event_id.

        Raises:
            EmitError: the event is invalid (nothing was sent).
            RuntimeError: not started.
        """
        if self._producer is None:
            raise RuntimeError("Emitter not started")
        payload = prepare_event(event, self._codec, self._validator)
        event_id = str(
            event.get("event_id") or self._codec.decode("WorkflowEvent", payload)["event_id"]
        )
        run_id = str(event["run_id"]).encode()
        headers = self._headers(run_id, payload)
        if wait:
            await self._producer.send_and_wait(self.topic, payload, key=run_id, headers=headers)
        else:
            await self._producer.send(self.topic, payload, key=run_id, headers=headers)
        return event_id

    async def send(self, event: dict[str, Any]) -> tuple[str, asyncio.Future[Any]]:
        """Validate, encode and enqueue ``event``; returns (event_id, delivery future).

        Raises:
            EmitError: the event is invalid (nothing was sent).
        """
        if self._producer is None:
            raise RuntimeError("Emitter not started")
        payload = prepare_event(event, self._codec, self._validator)
        event_id = self._codec.decode("WorkflowEvent", payload)["event_id"]
        run_id = str(event["run_id"]).encode()
        fut = await self._producer.send(
            self.topic, payload, key=run_id, headers=self._headers(run_id, payload)
        )
        return event_id, fut

    def _headers(self, key: bytes | None, payload: bytes) -> list[tuple[str, bytes]] | None:
        if self.producer_key is None:
            return None
        return self.producer_key.headers(self.topic, key, payload)

    async def emit_raw(self, payload: bytes, key: bytes | None = None) -> None:
        """Publish already-encoded bytes unchecked (tests and tools)."""
        if self._producer is None:
            raise RuntimeError("Emitter not started")
        await self._producer.send_and_wait(self.topic, payload, key=key)
