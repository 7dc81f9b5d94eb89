"""What a notification says, and its JSON, Slack and e-mail forms.

A :class:`Notice` is built from the gate's changelog entry and carries only ids,
kind, rule, roles and times: never the held event's content, arguments, findings or
actor, which can hold secrets or personal data (a reviewer follows the console link
to read them there, behind its access control). Every renderer works from a Notice
alone, so no payload can carry more than it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import orjson

from sluice.codec import Codec
from sluice.gate.entry import Entry

__all__ = [
    "Notice",
    "email_message",
    "json_body",
    "notice_from_entry",
    "slack_body",
    "transition_of",
]

_HEADLINES = {
    "held": "held for review",
    "escalated": "escalated: needs review",
    "expiring": "expires soon",
    "approved": "approved",
    "rejected": "rejected",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One transition of one held event, as every sink is told about it."""

    event_id: str
    #: held | escalated | expiring | approved | rejected
    transition: str
    kind: str | None
    rule: str | None
    roles: tuple[str, ...]
    approvals: int
    held_at: int
    expires_at: int
    escalated: bool
    #: Link to the console entry ("" when no console URL is configured).
    url: str

    @property
    def key(self) -> str:
        """The transition's identity: what "exactly once per sink" is counted over (an
        escalation starts a new expiry, so it gets its own expiry warning)."""
        phase = "/escalated" if self.transition == "expiring" and self.escalated else ""
        return f"{self.event_id}/{self.transition}{phase}"

    def idempotency_key(self, sink: str) -> str:
        """Stable per (event, transition, sink): receivers may dedupe on it."""
        return hashlib.sha256(f"{self.key}/{sink}".encode()).hexdigest()[:32]

    def time_left_seconds(self, now_ms: int) -> int:
        """Seconds until expiry (0 once expired or decided)."""
        if self.transition in ("approved", "rejected"):
            return 0
        return max(0, (self.expires_at - now_ms) // 1000)

    def headline(self) -> str:
        """One line: ``sluice: CODE_PUBLISH <id> held for review``."""
        return f"sluice: {self.kind or 'event'} {self.event_id} {_HEADLINES[self.transition]}"


def transition_of(entry: Entry) -> str | None:
    """The transition a changelog entry records (None: nothing to notify)."""
    if entry.status == "open":
        return "escalated" if entry.escalated else "held"
    if entry.status == "closed" and entry.outcome in ("APPROVED", "REJECTED"):
        return entry.outcome.lower()
    return None


def notice_from_entry(entry: Entry, transition: str, codec: Codec, console_url: str) -> Notice:
    """The Notice for ``entry``; rule and kind come from its HeldEvent, nothing else."""
    rule: str | None = None
    kind: str | None = None
    if entry.held is not None:
        try:
            held = codec.decode("HeldEvent", entry.held)
            rule, kind = held.get("rule"), held.get("kind")
        except Exception:  # noqa: S110 - an undecodable hold is still worth a notice
            pass
    groups = entry.groups()
    roles = tuple(sorted({r for g in groups for r in g[0]}))
    url = f"{console_url.rstrip('/')}/events/{entry.event_id}" if console_url else ""
    return Notice(
        event_id=entry.event_id,
        transition=transition,
        kind=kind if isinstance(kind, str) else None,
        rule=rule if isinstance(rule, str) else None,
        roles=roles,
        approvals=sum(g[1] for g in groups),
        held_at=entry.held_at,
        expires_at=entry.expires_at,
        escalated=entry.escalated,
        url=url,
    )


def _fields(n: Notice, now_ms: int) -> dict[str, Any]:
    return {
        "event_id": n.event_id,
        "transition": n.transition,
        "kind": n.kind,
        "rule": n.rule,
        "roles": list(n.roles),
        "approvals": n.approvals,
        "escalated": n.escalated,
        "held_at": n.held_at,
        "expires_at": n.expires_at,
        "time_left_seconds": n.time_left_seconds(now_ms),
        "url": n.url or None,
    }


def json_body(n: Notice, sink: str, now_ms: int) -> bytes:
    """The generic webhook body (compact JSON, sorted keys)."""
    body = {
        "type": "sluice.notification",
        "version": 1,
        "idempotency_key": n.idempotency_key(sink),
        "sent_at": now_ms,
        **_fields(n, now_ms),
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _human_left(seconds: int) -> str:
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _lines(n: Notice, now_ms: int) -> list[str]:
    lines = [
        f"Event: {n.event_id}",
        f"Kind: {n.kind or '-'}",
        f"Rule: {n.rule or '-'}",
        f"Required roles: {', '.join(n.roles) or '-'} ({n.approvals} approval(s))",
    ]
    if n.transition in ("approved", "rejected"):
        lines.append(f"Outcome: {n.transition}")
    else:
        lines.append(f"Time left: {_human_left(n.time_left_seconds(now_ms))}")
    if n.url:
        lines.append(f"Console: {n.url}")
    return lines


def _slack_escape(s: str) -> str:
    # Slack mrkdwn control characters; ids and rule names are not trusted to be plain.
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notice, now_ms: int) -> bytes:
    """A Slack incoming-webhook body: ``text`` (notification fallback) and ``blocks``."""
    text = _slack_escape(n.headline())
    detail = "\n".join(
        _slack_escape(line) for line in _lines(n, now_ms) if not line.startswith("Console:")
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*\n{detail}"}}
    ]
    if n.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in the console"},
                        "url": n.url,
                    }
                ],
            }
        )
    return orjson.dumps({"text": text, "blocks": blocks})


def email_message(
    n: Notice, sender: str, to: tuple[str, ...], sink: str, now_ms: int
) -> EmailMessage:
    """A plain-text e-mail; its Message-ID derives from the idempotency key."""
    msg = EmailMessage()
    msg["Subject"] = n.headline().replace("\r", " ").replace("\n", " ")
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Message-ID"] = f"<{n.idempotency_key(sink)}@sluice.notify>"
    msg["X-Sluice-Event-Id"] = n.event_id
    msg["X-Sluice-Transition"] = n.transition
    msg.set_content("\n".join(_lines(n, now_ms)) + "\n")
    return msg
