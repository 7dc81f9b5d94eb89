"""``sluice notify`` against the real local Kafka, a local HTTP server and a real SMTP server.

The gate's changelog (``workflow.gate.state``) is written as the gate writes it (one
entry per transition, keyed by event_id). A signed webhook, a Slack receiver and an SMTP
server (aiosmtpd, STARTTLS and AUTH required) must each get exactly one notification per
transition across a SIGKILL of the notifier; a sink answering HTTP 500 is retried and
then dead-lettered once, and not retried after the restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import hashlib
import ipaddress
import os
import signal
import ssl
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sluice.codec import default_codec
from sluice.gate.entry import Entry
from sluice.kafka import create_topics, read_topic
from sluice.notify.sinks import verify_signature
from sluice.tools.dev.broker import free_port
from tests.helpers import REPO, produce, settings_from_env, topics_for

pytestmark = pytest.mark.integration

SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
PII = "jane.doe@example.com"
HOOK_KEY = b"hook-secret"


def _held(now: int, ttl_ms: int, roles: list[str]) -> tuple[dict[str, Any], bytes]:
    codec = default_codec()
    event = {
        "event_id": str(uuid.uuid4()),
        "workflow_id": "wf-release",
        "run_id": "run-1",
        "step": "publish",
        "kind": "CODE_PUBLISH",
        "actor": {"id": "agent-7", "type": "AGENT", "roles": ["builder"]},
        "action": "git.push",
        "data_classification": "INTERNAL",
        "occurred_at": now,
        "on_behalf_of": "dana",
        "resource": "repo:payments",
        "content": f"token={SECRET} mail {PII}",
        "arguments": {"api_key": SECRET},
        "model": None,
        "confidence": 0.9,
        "cost_usd": 0.01,
        "trace_id": None,
        "attributes": {},
    }
    raw = codec.encode("WorkflowEvent", event)
    held = {
        "event_id": event["event_id"],
        "run_id": "run-1",
        "workflow_id": "wf-release",
        "kind": "CODE_PUBLISH",
        "actor_id": "agent-7",
        "on_behalf_of": "dana",
        "trace_id": None,
        "event": raw,
        "content_hash": hashlib.sha256(raw).hexdigest(),
        "findings": [],
        "rule": "publish-needs-review",
        "policy_hash": "0" * 64,
        "roles": roles,
        "approvals": 1,
        "on_expiry": "REJECT",
        "held_at": now,
        "expires_at": now + ttl_ms,
        "received_at": now,
    }
    return held, codec.encode("HeldEvent", held)


def _tls(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1: the server context and the CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "smtp.crt", tmp / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, cert_path


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 OK"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"sluice", b"pw")
    return AuthResult(success=ok)


async def _wait(pred: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.2)


def test_notify_once_per_transition_across_restart(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(_scenario(sluice_env, tmp_path))


async def _scenario(env: dict[str, str], tmp_path: Path) -> None:
    settings = settings_from_env(env)
    topics = topics_for(env)
    await create_topics(settings)

    got: dict[str, list[tuple[dict[str, str], bytes]]] = {"hook": [], "slack": [], "fail": []}

    def route(name: str, status: int) -> Any:
        async def handler(request: web.Request) -> web.Response:
            got[name].append((dict(request.headers), await request.read()))
            return web.Response(status=status, text="ok")

        return handler

    app = web.Application()
    app.router.add_post("/hook", route("hook", 200))
    app.router.add_post("/slack", route("slack", 200))
    app.router.add_post("/fail", route("fail", 500))
    http = TestServer(app, host="127.0.0.1")
    await http.start_server()

    tls, cafile = _tls(tmp_path)
    mailbox = _Mailbox()
    smtp = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=tls,
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    smtp.start()

    cfg = {
        "console_url": "https://console.example",
        "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 0.5},
        "sinks": [
            {
                "name": "hook",
                "type": "webhook",
                "url": str(http.make_url("/hook")),
                "secret_env": "TEST_HOOK_SECRET",
            },
            {"name": "slack", "type": "slack", "url": str(http.make_url("/slack"))},
            {
                "name": "mail",
                "type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "starttls": True,
                "cafile": str(cafile),
                "username": "sluice",
                "password_env": "TEST_SMTP_PASSWORD",
                "from": "sluice@example.com",
                "to": ["reviewers@example.com"],
            },
            {
                "name": "broken",
                "type": "webhook",
                "url": str(http.make_url("/fail")),
                "secret": "x",
                "transitions": ["held"],
                "roles": ["release-manager"],
            },
        ],
    }
    cfg_path = tmp_path / "notify.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc_env = {
        **os.environ,
        **env,
        "PYTHONPATH": str(REPO / "streams"),
        "SLUICE_NOTIFY_FILE": str(cfg_path),
        "SLUICE_NOTIFY_GROUP_ID": f"{env['SLUICE_TOPIC_PREFIX']}notify",
        "SLUICE_NOTIFY_EXPIRY_WARNING_SECONDS": "120",
        "TEST_HOOK_SECRET": HOOK_KEY.decode(),
        "TEST_SMTP_PASSWORD": "pw",
    }

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sluice", "notify", env=proc_env, cwd=tmp_path
        )

    codec = default_codec()
    now = int(time.time() * 1000)
    held_a, raw_a = _held(now, 3600_000, ["release-manager"])
    held_b, raw_b = _held(now, 90_000, ["security"])  # within the 120 s warning: expiring
    a = Entry.opened(held_a, raw_a, held_a["content_hash"], set())
    b = Entry.opened(held_b, raw_b, held_b["content_hash"], set())
    ida, idb = a.event_id, b.event_id

    def changelog(*entries: Entry) -> list[tuple[bytes | None, bytes]]:
        return [(e.event_id.encode(), e.to_bytes()) for e in entries]

    def seen() -> dict[str, Counter[tuple[str, str]]]:
        out: dict[str, Counter[tuple[str, str]]] = {}
        for name in ("hook", "slack"):
            c: Counter[tuple[str, str]] = Counter()
            for _, body in got[name]:
                text = body.decode()
                eid = ida if ida in text else idb
                if name == "hook":
                    tr = orjson.loads(body)["transition"]
                else:
                    tr = next(t for t in _WORDS if _WORDS[t] in orjson.loads(body)["text"])
                c[(eid, tr)] += 1
            out[name] = c
        mc: Counter[tuple[str, str]] = Counter(
            (m["X-Sluice-Event-Id"], m["X-Sluice-Transition"]) for m in mailbox.messages
        )
        out["mail"] = mc
        return out

    first = {(ida, "held"), (idb, "held"), (idb, "expiring")}
    proc = await start()
    try:
        await produce(settings, topics.gate_state, changelog(a, b))
        await _wait(lambda: all(set(c) >= first for c in seen().values()))
        await _wait(lambda: len(got["fail"]) == 3)  # 3 attempts, then the dead letter

        # Every key recorded: now a SIGKILL at any point must not resend.
        async def keys() -> int:
            return len([r async for r in read_topic(settings, topics.notify_state)])

        deadline = time.monotonic() + 30
        while await keys() < 10 and time.monotonic() < deadline:  # 3 x 3 sent + 1 dead
            await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

        proc = await start()
        # A counted vote (still open: no new transition), then the decision.
        closed = Entry.from_bytes(a.to_bytes())
        closed.status, closed.outcome, closed.closed_at = "closed", "APPROVED", now + 1
        await produce(settings, topics.gate_state, changelog(a, closed))
        want = first | {(ida, "approved")}
        await _wait(lambda: all(set(c) >= want for c in seen().values()))
        await asyncio.sleep(3.0)  # room for any duplicate to show up
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        smtp.stop()
        await http.close()

    for name, c in seen().items():
        assert c == Counter(dict.fromkeys(want, 1)), (name, c)
    assert len(got["fail"]) == 3  # not retried after the restart

    for headers, body in got["hook"]:
        assert verify_signature(HOOK_KEY, headers["sluice-signature"], body)
        assert headers["idempotency-key"]
    bodies = [b for n in ("hook", "slack") for _, b in got[n]]
    bodies += [m.as_bytes() for m in mailbox.messages]
    for body in bodies:
        assert SECRET.encode() not in body and PII.encode() not in body
        assert b"agent-7" not in body and b"repo:payments" not in body
    hook = orjson.loads(got["hook"][0][1])
    assert hook["url"] == f"https://console.example/events/{hook['event_id']}"
    assert hook["rule"] == "publish-needs-review"

    dead = [codec.decode("DeadLetter", r.value) async for r in read_topic(settings, topics.dlq)]
    assert len(dead) == 1
    assert dead[0]["error_code"] == "notify_failed" and dead[0]["event_id"] == ida
    assert "HTTP 500" in dead[0]["detail"] and "broken" in dead[0]["detail"]


_WORDS = {
    "held": "held for review",
    "escalated": "escalated",
    "expiring": "expires soon",
    "approved": " approved",
    "rejected": " rejected",
}
