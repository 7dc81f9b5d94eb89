"""The console application over HTTP with an in-memory queue and producer (no Kafka):
login token, CSRF, proxy trust, headers, and a signed decision being published."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.codec import default_codec
from sluice.console.app import ConsoleConfig, build_app
from sluice.console.runs import RunIndex
from sluice.console.security import COOKIE_NAME, Access
from sluice.gate.queue import QueueState
from sluice.gate.signatures import build_decision, public_key_to_b64, registry_entry, sign_decision
from sluice.topics import Topics


def _held(payload: str = "hello") -> dict[str, Any]:
    now = int(time.time() * 1000)
    event = {
        "event_id": str(uuid.uuid4()),
        "workflow_id": "wf",
        "run_id": "run-1",
        "step": "s",
        "kind": "CODE_PUBLISH",
        "actor": {"id": "agent-1", "type": "AGENT", "roles": []},
        "action": "git.push",
        "data_classification": "INTERNAL",
        "occurred_at": now,
        "on_behalf_of": None,
        "resource": None,
        "content": payload,
        "arguments": {},
        "model": None,
        "confidence": None,
        "cost_usd": None,
        "trace_id": None,
        "attributes": {},
    }
    raw = default_codec().encode("WorkflowEvent", event)
    return {
        "event_id": event["event_id"],
        "run_id": "run-1",
        "workflow_id": "wf",
        "kind": "CODE_PUBLISH",
        "actor_id": "agent-1",
        "on_behalf_of": None,
        "trace_id": None,
        "event": raw,
        "content_hash": hashlib.sha256(raw).hexdigest(),
        "findings": [],
        "rule": "code-publish",
        "policy_hash": "p" * 64,
        "reason": None,
        "risk_score": 0.5,
        "roles": ["security"],
        "approvals": 1,
        "on_expiry": "REJECT",
        "escalate_roles": [],
        "escalate_ttl_ms": 0,
        "received_at": now,
        "held_at": now,
        "expires_at": now + 3_600_000,
    }


class FakeFeed:
    def __init__(self, state: QueueState) -> None:
        self.state, self.version, self.caught_up = state, 1, True
        self.runs = RunIndex()
        for held in state.held.values():
            self.runs.add(held, "held")

    async def wait_change(self, version: int, timeout_s: float) -> int:
        await asyncio.sleep(min(timeout_s, 0.05))
        return self.version


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, value, key))


class Console:
    def __init__(
        self,
        base: str,
        access: Access,
        held: dict[str, Any],
        key: Ed25519PrivateKey,
        producer: FakeProducer,
    ) -> None:
        self.base, self.access, self.held, self.key, self.producer = (
            base,
            access,
            held,
            key,
            producer,
        )

    def decision(self, reviewer: str = "alice") -> dict[str, Any]:
        d = build_decision(
            event_id=self.held["event_id"],
            verdict="APPROVE",
            reviewer_id=reviewer,
            key_id="k1",
            content_hash=self.held["content_hash"],
        )
        sign_decision(d, self.key)
        return {**d, "signature": base64.b64encode(d["signature"]).decode()}


async def _serve(tmp_path: Path, access: Access) -> AsyncIterator[Console]:
    key = Ed25519PrivateKey.generate()
    entry = registry_entry("alice", "k1", public_key_to_b64(key.public_key()), ["security"])
    (tmp_path / "reviewers.yaml").write_text(yaml.safe_dump({"reviewers": yaml.safe_load(entry)}))
    state = QueueState()
    held = _held("<script>window.__pwned=1</script>")
    state.add_held(held)
    producer = FakeProducer()
    config = ConsoleConfig(
        access=access,
        topics=Topics.with_prefix("t."),
        reviewers_file=str(tmp_path / "reviewers.yaml"),
    )
    feed = FakeFeed(state)
    # An earlier step of the same run, allowed at intake: known from its Outcome only.
    earlier = {
        "event_id": str(uuid.uuid4()),
        "run_id": held["run_id"],
        "kind": "<b>TOOL_CALL</b>",
        "rule": "allow-tools",
        "received_at": held["received_at"] - 5_000,
    }
    feed.runs.add(earlier, "approved")
    app = build_app(None, config, feed=feed, producer=producer)  # type: ignore[arg-type]
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Console(str(server.make_url("")), access, held, key, producer)
    finally:
        await server.close()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for c in _serve(tmp_path, Access()):
        yield c


async def _login(s: aiohttp.ClientSession, c: Console) -> str:
    async with s.get(f"{c.base}/?token={c.access.login_token}", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = r.cookies[COOKIE_NAME]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        return cookie.value


async def test_login_token_then_queue_and_detail(console: Console) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(f"{console.base}/") as r:
            assert r.status == 403 and "token" in await r.text()
        async with s.get(f"{console.base}/?token=wrong") as r:
            assert r.status == 403
        await _login(s, console)
        async with s.get(f"{console.base}/") as r:
            assert r.status == 200
            body = await r.text()
            assert "Content-Security-Policy" in r.headers
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert console.held["event_id"] in body
        async with s.get(f"{console.base}/event/{console.held['event_id']}") as r:
            body = await r.text()
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
        assert console.held["content_hash"] in body
        # The earlier step of the run (escaped), the trace link, the live facts section.
        assert '&lt;b&gt;TOOL_CALL&lt;/b&gt; <span class="status">approved</span>' in body
        assert f'href="/event/{console.held["event_id"]}/trace"' in body
        assert f'data-live="/event/{console.held["event_id"]}/facts"' in body
        async with s.get(f"{console.base}/event/{console.held['event_id']}/facts") as r:
            facts = await r.text()
        assert r.status == 200 and '<dd id="status">held</dd>' in facts
        assert "No votes yet." in facts and "<html" not in facts
        async with s.get(f"{console.base}/event/{uuid.uuid4()}/facts") as r:
            assert r.status == 404
        async with s.get(f"{console.base}/static/console.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript"
        async with s.get(f"{console.base}/static/../app.py") as r:
            assert r.status == 404


async def test_trace_and_audit_need_login_and_an_event_id(console: Console) -> None:
    eid = console.held["event_id"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        for path in ("trace", "audit", "facts"):
            async with s.get(f"{console.base}/event/{eid}/{path}") as r:
                assert r.status == 403 and eid not in await r.text()
        await _login(s, console)
        for path in ("trace", "audit", "facts"):
            async with s.get(f"{console.base}/event/<script>x/{path}") as r:
                assert r.status == 404 and "<script>" not in await r.text()
        # No Kafka here: the read fails, and the page says so instead of failing.
        async with s.get(f"{console.base}/event/{eid}/trace") as r:
            body = await r.text()
        assert r.status == 200 and "could not read the trace" in body
        assert "Content-Security-Policy" in r.headers
        async with s.get(f"{console.base}/event/{eid}/audit") as r:
            assert "could not read the trace" in await r.text()


def test_trace_page_escapes_what_sluice_trace_prints() -> None:
    from sluice.console.trace import trace_page

    item = {
        "at": "2026-01-01T00:00:00.000Z",
        "at_ms": 0,
        "elapsed_ms": 0,
        "delta_ms": 0,
        "role": "audit",
        "topic": "workflow.audit",
        "partition": 0,
        "offset": 1,
        "type": "AuditRecord",
        "label": "intake/held held",
        "fields": {"actor_id": "<script>window.__pwned=1</script>\u202e", "seq": 1},
    }
    html = trace_page("e", [item], None, csrf="c", user=None)
    assert "<script>window" not in html and "&lt;script&gt;window.__pwned=1" in html
    assert "\u202e" not in html and "⟨U+202E⟩" in html


async def test_post_needs_login_and_csrf(console: Console) -> None:
    url = f"{console.base}/event/{console.held['event_id']}/decide"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(url, json=console.decision()) as r:
            assert r.status == 403  # not logged in
        session = await _login(s, console)
        async with s.post(url, json=console.decision()) as r:
            assert r.status == 403  # no CSRF token
        async with s.post(url, json=console.decision(), headers={"X-CSRF-Token": "x"}) as r:
            assert r.status == 403  # wrong CSRF token
        assert console.producer.sent == []
        csrf = {"X-CSRF-Token": console.access.csrf_token(session)}
        async with s.post(url, json=console.decision(), headers=csrf) as r:
            assert r.status == 200, await r.text()
            out = await r.json()
        topic, value, key = console.producer.sent[0]
        assert topic == "t.workflow.decisions" and key == console.held["event_id"].encode()
        assert default_codec().decode("Decision", value)["decision_id"] == out["decision_id"]
        bad = console.decision()
        bad["reason"] = "changed after signing"
        async with s.post(url, json=bad, headers=csrf) as r:
            assert r.status == 422 and "bad_signature" in (await r.json())["error"]
        other = {**console.decision(), "content_hash": "0" * 64}
        async with s.post(url, json=other, headers=csrf) as r:
            assert r.status == 409
        assert len(console.producer.sent) == 1


async def test_proxy_header_only_from_trusted_proxy(tmp_path: Path) -> None:
    trusted = Access(proxy_header="X-Forwarded-User", trusted_proxies=frozenset({"127.0.0.1"}))
    async for c in _serve(tmp_path, trusted):
        url = f"{c.base}/event/{c.held['event_id']}/decide"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(f"{c.base}/") as r:
                assert r.status == 403  # no identity header
            hdr = {"X-Forwarded-User": "alice"}
            async with s.get(f"{c.base}/", headers=hdr) as r:
                assert r.status == 200 and "signed in as alice" in await r.text()
                session = r.cookies[COOKIE_NAME].value
            csrf = {**hdr, "X-CSRF-Token": c.access.csrf_token(session)}
            async with s.post(
                url, json=c.decision(), headers={**csrf, "X-Forwarded-User": "bob"}
            ) as r:
                assert r.status == 403  # session bound to alice
            async with s.post(url, json=c.decision(), headers=csrf) as r:
                assert r.status == 200, await r.text()
    untrusted = Access(proxy_header="X-Forwarded-User", trusted_proxies=frozenset({"10.0.0.1"}))
    async for c in _serve(tmp_path, untrusted):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(f"{c.base}/", headers={"X-Forwarded-User": "alice"}) as r:
                assert r.status == 403
