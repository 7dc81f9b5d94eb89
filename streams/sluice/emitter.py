"""The upstream side: publish WorkflowEvents that sluice will accept.

    async with Emitter() as emitter:
        await emitter.emit({"event_id": ..., "kind": "TOOL_CALL", ...})

From synchronous code (a Flask or Django view, a Celery task, a script):

    with SyncEmitter() as emitter:
        emitter.emit({...})          # blocks until the broker acknowledges

or once, connecting and disconnecting around it: ``emit_sync({...})``.

The event is validated against the contract (schema and field rules) before it is
sent, so a bad event fails fast in the caller, not later in the DLQ. With a producer
key (``producer_key=`` or ``SLUICE_PRODUCER_KEY_FILE``) every record carries the
``sluice.producer.v1`` headers (:mod:`sluice.producers`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from sluice.codec import Codec, default_codec
from sluice.errors import EmitError, RejectedRecord
from sluice.kafka import make_producer
from sluice.models.records import event_optional_fields
from sluice.producers import ProducerSigner, read_producer_key
from sluice.settings import Settings, load_settings
from sluice.topics import Topics
from sluice.validate import Validator

__all__ = ["Emitter", "SyncEmitter", "emit_sync", "prepare_event"]


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


class SyncEmitter:
    """Blocking publisher for synchronous code: an :class:`Emitter` on its own event loop.

    The loop runs in a daemon thread owned by this object, so ``emit`` works from plain
    threads (several may call it at once) and does not touch the caller's event loop. In
    async code use :class:`Emitter`: calling ``emit`` from a coroutine would block that
    loop until the broker acknowledges.

    Raises:
        ConfigError: the producer key file is unusable.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        topic: str | None = None,
        producer_key: ProducerSigner | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._emitter = Emitter(settings, topic=topic, producer_key=producer_key)
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def topic(self) -> str:
        """The topic events go to."""
        return self._emitter.topic

    def start(self) -> None:
        """Start the loop thread and connect. Raises RuntimeError if already started."""
        if self._loop is not None:
            raise RuntimeError("SyncEmitter already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="sluice-emitter", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._call(self._emitter.start(), self.timeout)
        except BaseException:
            self._shutdown()
            raise

    def emit(self, event: dict[str, Any], *, timeout: float | None = None) -> str:
        """Validate, encode and publish ``event``; blocks until acknowledged (acks=all).

        Returns the event_id.

        Raises:
            EmitError: the event is invalid (nothing was sent).
            RuntimeError: not started.
            TimeoutError: no acknowledgement within ``timeout`` (default ``self.timeout``).
        """
        return self._call(self._emitter.emit(event), timeout)

    def close(self) -> None:
        """Flush, disconnect and stop the loop thread; safe twice."""
        if self._loop is None:
            return
        try:
            self._call(self._emitter.stop(), self.timeout)
        finally:
            self._shutdown()

    def __enter__(self) -> SyncEmitter:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, coro: Any, timeout: float | None) -> Any:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("SyncEmitter not started")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(self.timeout if timeout is None else timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _shutdown(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(self.timeout)
        if not loop.is_running():
            loop.close()


def emit_sync(
    event: dict[str, Any],
    settings: Settings | None = None,
    *,
    topic: str | None = None,
    producer_key: ProducerSigner | None = None,
    timeout: float = 30.0,
) -> str:
    """Publish one event from synchronous code and return its event_id.

    Connects, sends, waits for the acknowledgement and disconnects: for scripts and
    rare events. A service that emits often keeps one :class:`SyncEmitter` open.

    Raises:
        EmitError: the event is invalid (nothing was sent).
        ConfigError: the producer key file is unusable.
    """
    with SyncEmitter(settings, topic=topic, producer_key=producer_key, timeout=timeout) as em:
        return em.emit(event)
