"""Blocking librdkafka calls on daemon threads, each wait bounded; the client configuration.

librdkafka does not always honour a call's own timeout: after a broker restart,
``send_offsets_to_transaction`` can block for good while its request to the group
coordinator waits on a coordinator that never comes back in its cache (librdkafka
issues #5456 and #5511, open for 2.14-2.16; caught here with native thread stacks of a
stalled worker in ``tests/reliability/test_broker_restart.py``). On a
:class:`concurrent.futures.ThreadPoolExecutor` that call also kept the process from
exiting: the interpreter joins those threads at exit, so SIGTERM never ended the worker.

So each call here runs on a daemon thread (reused when idle) and is awaited for at most
its bound; a call past it raises :class:`CallStuck` and is abandoned (its thread stays
blocked in librdkafka, and the process can still exit).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaError
from confluent_kafka import KafkaError as CkError

from sluice.errors import ConfigError
from sluice.settings import Settings

__all__ = ["CallStuck", "DaemonCalls", "librdkafka_config"]

log = logging.getLogger("sluice.kafka.confluent")
_rdlog = logging.getLogger("sluice.kafka.librdkafka")

_Item = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class CallStuck(KafkaError):  # type: ignore[misc]
    """A librdkafka call did not return within its bound (it may never return)."""


def _deliver(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():  # timed out or cancelled meanwhile
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class DaemonCalls:
    """Runs blocking calls on daemon threads named ``name``; a thread is reused when idle."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._q: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def threads(self) -> int:
        """Threads started (idle, busy, or blocked in an abandoned call)."""
        return self._threads

    async def run(self, bound_s: float | None, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a daemon thread; its result or exception.

        Raises:
            CallStuck: ``fn`` did not return within ``bound_s`` (None: no bound).
        """
        if self._closed:
            raise RuntimeError(f"{self._name}: closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}_{self._threads}", daemon=True
                ).start()
        self._q.put((loop, fut, fn, args))
        if bound_s is None:
            return await fut
        try:
            return await asyncio.wait_for(fut, bound_s)
        except TimeoutError:
            raise CallStuck(getattr(fn, "__name__", "call")) from None

    def _work(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            loop, fut, fn, args = item
            try:
                value, ok = fn(*args), True
            except BaseException as exc:
                value, ok = exc, False
            with self._lock:
                self._idle += 1
            try:
                loop.call_soon_threadsafe(_deliver, fut, ok, value)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
            del item, fut, fn, args, value

    def close(self) -> None:
        """Let idle threads end (a thread blocked in an abandoned call stays, as a daemon)."""
        self._closed = True
        with self._lock:
            n = self._threads
        for _ in range(n):
            self._q.put(None)


def librdkafka_config(settings: Settings) -> dict[str, Any]:
    """Connection settings (bootstrap, TLS, SASL) as librdkafka configuration.

    The same settings as :meth:`sluice.settings.Settings.kafka_kwargs`, for the same
    cluster: PEM files by path, SASL PLAIN or SCRAM with username and password.

    Raises:
        ConfigError: SASL without mechanism, username or password.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol.lower(),
        "logger": _rdlog,
        "error_cb": _on_error,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        # Like ssl.create_default_context(): the given CA, else the system's.
        conf["ssl.ca.location"] = str(settings.ssl_cafile) if settings.ssl_cafile else "probe"
        conf["ssl.endpoint.identification.algorithm"] = "https"
        if settings.ssl_certfile:
            conf["ssl.certificate.location"] = str(settings.ssl_certfile)
            if settings.ssl_keyfile:
                conf["ssl.key.location"] = str(settings.ssl_keyfile)
            if settings.ssl_key_password:
                conf["ssl.key.password"] = settings.ssl_key_password.get_secret_value()
    if settings.security_protocol.startswith("SASL"):
        if not settings.sasl_mechanism or not settings.sasl_username or not settings.sasl_password:
            raise ConfigError(
                "SASL needs SLUICE_SASL_MECHANISM, SLUICE_SASL_USERNAME and "
                "SLUICE_SASL_PASSWORD (or SLUICE_SASL_PASSWORD_FILE)"
            )
        conf["sasl.mechanism"] = settings.sasl_mechanism
        conf["sasl.username"] = settings.sasl_username
        conf["sasl.password"] = settings.sasl_password.get_secret_value()
    return conf


def _on_error(err: CkError) -> None:
    log.warning("kafka client error", extra={"error": err.name(), "fatal": err.fatal()})
