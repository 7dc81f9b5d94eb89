"""Console HTML: every value escaped, invisible characters shown, findings marked."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from sluice.console import render

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "javascript:window.__pwned=1",
    "'; onmouseover='window.__pwned=1",
    "admin\u202egnp.exe",
    "zero\u200bwidth\u2066iso\u2069",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _no_live_markup(html: str) -> None:
    """Parsed as a browser would: only our own script, no handlers, no javascript: URLs."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("img", "iframe", "object", "embed", "svg"), tag
        if tag == "script":
            assert attrs == [("src", "/static/console.js"), ("defer", None)]
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "action"):
                assert not (value or "").lower().strip().startswith("javascript"), value
    for ch in "\u202e\u200b\u2066\u2069":
        assert ch not in html


def test_esc_escapes_markup_and_shows_invisible_characters() -> None:
    assert render.esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    shown = render.esc("a\u202eb")
    assert "\u202e" not in shown and "U+202E" in shown
    assert render.esc(None) == ""


def _view(value: str) -> dict[str, Any]:
    event = {
        "event_id": value,
        "content": f"line1\n{value}\nsecret=ABC",
        "attributes": {"k": value},
    }
    return {
        "event_id": value,
        "run_id": value,
        "workflow_id": value,
        "kind": value,
        "actor_id": value,
        "on_behalf_of": value,
        "trace_id": value,
        "rule": value,
        "reason": value,
        "roles": [value],
        "approvals_required": 2,
        "approvals": 1,
        "rejections": 1,
        "votes": [
            {
                "reviewer_id": value,
                "verdict": value,
                "valid": False,
                "refusal": value,
                "reason": value,
            }
        ],
        "requirements": [{"role": value, "count": 1, "level": 1, "approved_by": [value]}],
        "on_expiry": value,
        "expired": False,
        "time_left_s": 65.0,
        "expires_at": 1,
        "content_hash": value,
        "status": "held",
        "risk": {"score": 0.5, "detectors": [value], "kinds": {}},
        "findings": [
            {
                "detector": value,
                "kind": value,
                "severity": value,
                "action": value,
                "field": "content",
                "start": 6,
                "end": 8,
            }
        ],
        "event": event,
    }


def test_pages_render_payloads_inert() -> None:
    for payload in PAYLOADS:
        view = _view(payload)
        html = render.detail_page(view, "aGVsbG8=", csrf="c", user=payload)
        _no_live_markup(html)
        assert render.esc(payload) in html
        frag = render.queue_fragment([view], {payload: 1}, total=1, filtered=False)
        _no_live_markup(frag)
        page = render.queue_page(frag, {"role": payload}, {"role": [payload]}, csrf="c", user=None)
        _no_live_markup(page)


def test_event_text_keeps_lines_and_marks_findings() -> None:
    text = render.event_text(
        {"content": "diff\n+token=<x>\n-old", "n": 1},
        [{"field": "content", "start": 12, "end": 15, "detector": "d", "kind": "secret"}],
    )
    assert text.startswith("content: |\n  diff\n  +token=")
    assert '<mark title="secret/d">&lt;x&gt;</mark>' in text
    assert "n: 1" in text


def test_queue_empty_state_and_counts() -> None:
    frag = render.queue_fragment([], {}, total=0, filtered=False)
    assert 'id="empty"' in frag and "queue is clear" in frag
    assert "matching these filters" in render.queue_fragment([], {}, total=3, filtered=True)


def test_duration() -> None:
    assert [render.duration(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d1h"]


def test_findings_marked_in_the_sanitized_text() -> None:
    # "key=SECRETVALUE and mail a@b.c" with the secret (4..15) redacted, the e-mail flagged.
    text = "key=[REDACTED:aws_key:0123456789abcdef] and mail a@b.c"
    findings = [
        {
            "field": "content",
            "start": 4,
            "end": 15,
            "detector": "aws_key",
            "kind": "secret",
            "action": "redacted",
        },
        {
            "field": "content",
            "start": 25,
            "end": 30,
            "detector": "email",
            "kind": "pii",
            "action": "flagged",
        },
    ]
    marks = render.finding_marks(text, findings)
    assert [text[a:b] for a, b, _ in marks] == ["[REDACTED:aws_key:0123456789abcdef]", "a@b.c"]
    assert marks[1][2] == "pii/email flagged"


def test_removed_characters_shift_later_findings() -> None:
    # Received "a\u202eb <script>": the bidi override (1..2) removed, the tag (3..11) flagged.
    text = "ab <script>"
    findings = [
        {"field": "content", "start": 1, "end": 2, "detector": "bidi", "action": "removed"},
        {"field": "content", "start": 4, "end": 12, "detector": "script_tag", "action": "flagged"},
    ]
    marks = render.finding_marks(text, findings)
    assert [text[a:b] for a, b, _ in marks] == ["<script>"]
    cleaned = [{**findings[0], "action": "cleaned"}, findings[1]]
    assert render.finding_marks(text, cleaned) == []  # shift unknown: not guessed
