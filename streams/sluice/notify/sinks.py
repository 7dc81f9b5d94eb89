"""Delivery to one sink: signed JSON webhook, Slack incoming webhook, SMTP e-mail.

Webhook signature (documented in the README): header
``sluice-signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256(secret, ``"<t>." + body``); a receiver recomputes it over the raw body,
compares in constant time and refuses old ``t`` (:func:`verify_signature`). Every
webhook and Slack request also carries ``idempotency-key`` (stable per event,
transition and sink), and e-mails a Message-ID derived from it, so a receiver can drop
the one resend a crash at the wrong moment can cause.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import smtplib
import ssl
import time
from collections.abc import Iterator
from typing import Protocol

import aiohttp

from sluice.notify.config import RetryConfig, SinkConfig
from sluice.notify.messages import Notice, email_message, json_body, slack_body

__all__ = [
    "SIGNATURE_HEADER",
    "Sink",
    "SinkError",
    "SmtpSink",
    "WebhookSink",
    "backoff_delays",
    "make_sink",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "sluice-signature"


class SinkError(Exception):
    """One delivery attempt failed (the message never includes a response body)."""


def sign(secret: bytes, body: bytes, t: int) -> str:
    """The ``sluice-signature`` header value for ``body`` at unix time ``t``."""
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, now: int | None = None, tolerance_s: int = 300
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and ``t`` is within tolerance."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((int(time.time()) if now is None else now) - t) > tolerance_s:
        return False
    want = sign(secret, body, t).split(",v1=", 1)[1]
    return hmac.compare_digest(want, parts.get("v1", ""))


def backoff_delays(retry: RetryConfig, rng: random.Random | None = None) -> Iterator[float]:
    """Sleeps between ``retry.attempts`` attempts: exponential, capped, "equal jitter"
    (half fixed, half random) so failing notifiers do not retry in lockstep."""
    r = rng or random.Random()  # noqa: S311 - jitter, not a secret
    for i in range(retry.attempts - 1):
        d = min(retry.max_seconds, retry.base_seconds * (2**i))
        yield d / 2 + r.random() * d / 2


class Sink(Protocol):
    """Sends one Notice; raises :class:`SinkError` on a failed attempt."""

    config: SinkConfig

    async def send(self, notice: Notice) -> None: ...

    async def close(self) -> None: ...


class WebhookSink:
    """Generic JSON webhook (HMAC-signed) or Slack incoming webhook (``config.type``)."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def send(self, notice: Notice) -> None:
        """POST the body; any non-2xx status or connection error is a failed attempt."""
        c = self.config
        now = time.time()
        headers = {
            "content-type": "application/json",
            "idempotency-key": notice.idempotency_key(c.name),
        }
        if c.type == "slack":
            body = slack_body(notice, int(now * 1000))
        else:
            body = json_body(notice, c.name, int(now * 1000))
            headers[SIGNATURE_HEADER] = sign(c.secret.encode(), body, int(now))
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=c.timeout_seconds)
            )
        try:
            async with self._session.post(
                c.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if not 200 <= resp.status < 300:
                    raise SinkError(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkError(type(exc).__name__) from None

    async def close(self) -> None:
        """Close the HTTP session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class SmtpSink:
    """E-mail over SMTP (implicit TLS, STARTTLS or plain), in a thread (smtplib blocks)."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config

    async def send(self, notice: Notice) -> None:
        """Send one e-mail; SMTP and socket errors are a failed attempt."""
        try:
            await asyncio.to_thread(self._send, notice)
        except (smtplib.SMTPException, OSError) as exc:
            raise SinkError(type(exc).__name__) from None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile or None)

    def _send(self, notice: Notice) -> None:
        c = self.config
        msg = email_message(notice, c.sender, c.to, c.name, int(time.time() * 1000))
        smtp: smtplib.SMTP
        if c.ssl:
            smtp = smtplib.SMTP_SSL(
                c.host, c.port, timeout=c.timeout_seconds, context=self._context()
            )
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if c.starttls and not c.ssl:
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.secret)
            smtp.send_message(msg)

    async def close(self) -> None:
        """Nothing to close: one connection per message."""


def make_sink(config: SinkConfig) -> Sink:
    """The sink for ``config.type``."""
    if config.type == "smtp":
        return SmtpSink(config)
    return WebhookSink(config)
