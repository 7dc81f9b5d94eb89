"""Notification payloads: ids, rule, roles and times only; never event content."""

from __future__ import annotations

import hashlib
import random
import time
import uuid

import orjson
import pytest

from sluice.codec import default_codec
from sluice.errors import ConfigError
from sluice.gate.entry import Entry
from sluice.notify.config import RetryConfig, parse_notify_config
from sluice.notify.messages import (
    email_message,
    json_body,
    notice_from_entry,
    slack_body,
    transition_of,
)
from sluice.notify.sinks import backoff_delays, sign, verify_signature

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PII = "jane.doe@example.com +1 415 555 0100"


def _held(now: int) -> tuple[dict, bytes]:
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
        "content": f"token={SECRET} contact {PII}",
        "arguments": {"api_key": SECRET, "email": PII},
        "model": None,
        "confidence": 0.9,
        "cost_usd": 0.01,
        "trace_id": None,
        "attributes": {"note": PII},
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
        "roles": ["release-manager"],
        "approvals": 2,
        "on_expiry": "REJECT",
        "held_at": now,
        "expires_at": now + 3600_000,
        "received_at": now,
    }
    return held, codec.encode("HeldEvent", held)


def _entry(now: int) -> Entry:
    held, raw = _held(now)
    return Entry.opened(held, raw, held["content_hash"], set())


def test_transitions_from_entries() -> None:
    e = _entry(int(time.time() * 1000))
    assert transition_of(e) == "held"
    e.escalated = True
    assert transition_of(e) == "escalated"
    e.status, e.outcome = "closed", "APPROVED"
    assert transition_of(e) == "approved"
    e.status = "awaiting"
    assert transition_of(e) is None


@pytest.mark.parametrize("transition", ["held", "escalated", "expiring", "approved", "rejected"])
def test_no_content_in_any_payload(transition: str) -> None:
    now = int(time.time() * 1000)
    e = _entry(now)
    n = notice_from_entry(e, transition, default_codec(), "https://console.example/")
    assert n.rule == "publish-needs-review" and n.kind == "CODE_PUBLISH"
    assert n.roles == ("release-manager",) and n.approvals == 2
    assert n.url == f"https://console.example/events/{e.event_id}"
    payloads = [
        json_body(n, "hook", now),
        slack_body(n, now),
        email_message(n, "s@example.com", ("r@example.com",), "mail", now).as_bytes(),
    ]
    for p in payloads:
        for needle in (SECRET, "jane.doe", "555 0100", "agent-7", "dana", "repo:payments"):
            assert needle.encode() not in p
        assert e.event_id.encode() in p
    body = orjson.loads(payloads[0])
    assert body["event_id"] == e.event_id and body["transition"] == transition
    if transition in ("held", "escalated", "expiring"):
        assert 3500 < body["time_left_seconds"] <= 3600
    slack = orjson.loads(payloads[1])
    assert set(slack) == {"text", "blocks"}


def test_slack_escapes_markup() -> None:
    e = _entry(int(time.time() * 1000))
    e.event_id = "<!channel>&x"
    n = notice_from_entry(e, "held", default_codec(), "")
    body = slack_body(n, 0).decode()
    assert "<!channel>" not in body and "&lt;!channel&gt;&amp;x" in body


def test_idempotency_key_stable_per_sink_and_phase() -> None:
    e = _entry(int(time.time() * 1000))
    n = notice_from_entry(e, "expiring", default_codec(), "")
    assert n.idempotency_key("a") == n.idempotency_key("a") != n.idempotency_key("b")
    e.escalated = True
    n2 = notice_from_entry(e, "expiring", default_codec(), "")
    assert n2.key != n.key


def test_signature_roundtrip_and_tamper() -> None:
    body = b'{"a":1}'
    header = sign(b"k", body, 1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    import hmac

    want = hmac.new(b"k", b"1700000000." + body, "sha256").hexdigest()
    assert v1 == f"v1={want}"
    assert verify_signature(b"k", header, body, now=1_700_000_010)
    assert not verify_signature(b"k", header, body + b" ", now=1_700_000_010)
    assert not verify_signature(b"x", header, body, now=1_700_000_010)
    assert not verify_signature(b"k", header, body, now=1_700_001_000)  # too old
    assert not verify_signature(b"k", "garbage", body)


def test_backoff_exponential_capped_jittered() -> None:
    r = RetryConfig(attempts=6, base_seconds=1, max_seconds=8)
    delays = list(backoff_delays(r, random.Random(1)))
    assert len(delays) == 5
    for i, d in enumerate(delays):
        cap = min(8, 2**i)
        assert cap / 2 <= d <= cap
    other = list(backoff_delays(r, random.Random(2)))
    assert other != delays
    assert list(backoff_delays(RetryConfig(attempts=1))) == []


def test_config_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3")
    cfg = parse_notify_config(
        {
            "console_url": "https://c/",
            "sinks": [
                {"name": "h", "type": "webhook", "url": "http://x", "secret_env": "HOOK_SECRET"},
                {"name": "s", "type": "slack", "url": "http://y", "transitions": ["held"]},
                {
                    "name": "m",
                    "type": "smtp",
                    "host": "mx",
                    "from": "a@b",
                    "to": "c@d",
                    "roles": ["sec"],
                },
            ],
        }
    )
    assert cfg.console_url == "https://c"
    h, s, m = cfg.sinks
    assert h.secret == "s3" and "s3" not in repr(h)
    assert s.wants("held", ()) and not s.wants("approved", ())
    assert m.port == 587 and m.starttls and m.to == ("c@d",)
    assert m.wants("held", ("sec", "x")) and not m.wants("held", ("ops",))
    bad = [
        {"sinks": []},
        {"sinks": [{"name": "h", "type": "webhook", "url": "http://x"}]},
        {"sinks": [{"name": "h", "type": "pager"}]},
        {"sinks": [{"name": "s", "type": "slack", "url": "u", "colour": "red"}]},
        {"sinks": [{"name": "s", "type": "slack", "url": "u", "transitions": ["x"]}]},
        {"sinks": [{"name": "s", "type": "slack", "url": "u"}] * 2},
        {"sinks": [{"name": "s", "type": "slack", "url_env": "NOPE_NOT_SET"}]},
        {"other": 1, "sinks": [{"name": "s", "type": "slack", "url": "u"}]},
    ]
    for data in bad:
        with pytest.raises(ConfigError):
            parse_notify_config(data)
