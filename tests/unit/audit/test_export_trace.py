"""SIEM export lines, --since parsing, and the trace timeline."""

from __future__ import annotations

import base64

import pytest

from sluice.audit.chain import ChainWriter, record_hash
from sluice.audit.export import export_record, iso_ms, parse_since
from sluice.audit.keys import CheckpointSigner
from sluice.audit.trace import build_timeline, format_timeline, summarize

NOW = 1_760_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - 90_000),
        ("15m", NOW - 900_000),
        ("2h", NOW - 7_200_000),
        ("1h30m", NOW - 5_400_000),
        ("7d", NOW - 7 * 86_400_000),
        ("1w", NOW - 7 * 86_400_000),
        ("2025-10-09T08:53:20Z", 1_760_000_000_000),
        ("2025-10-09T10:53:20+02:00", 1_760_000_000_000),
        ("2025-10-09T08:53:20", 1_760_000_000_000),
        ("2025-10-09", 1_759_968_000_000),
    ],
)
def test_parse_since(text: str, expected: int) -> None:
    assert parse_since(text, now_ms=NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "5x", "m", "2025-13-01"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_since(text, now_ms=NOW)


def test_export_record_keeps_every_field_and_base64_signature() -> None:
    signer = CheckpointSigner.generate()
    _opening, rec, cp = ChainWriter("gate:1", None, signer=signer, checkpoint_every=1).append(
        stage="gate", transition="approved", event_id="e1", at=NOW
    )
    line = export_record(cp, partition=2, offset=9)
    assert base64.b64decode(line["signature"]) == cp["signature"]
    assert (line["topic_partition"], line["topic_offset"]) == (2, 9)
    plain = export_record(rec, partition=0, offset=0)
    assert plain["at_iso"] == "2025-10-09T08:53:20.000Z" == iso_ms(NOW)
    # The export is enough to recompute the hash.
    back = {k: plain[k] for k in rec}
    assert record_hash(back) == rec["hash"]


def test_timeline_orders_and_times_a_lifecycle() -> None:
    eid = "00000000-0000-4000-8000-000000000001"
    kw = {"partition": 0, "timestamp_ms": 0}
    entries = [
        summarize(
            "Outcome",
            {
                "event_id": eid,
                "outcome": "APPROVED",
                "source": "REVIEWER",
                "decided_at": NOW + 900,
                "event": b"secret body",
            },
            role="approved",
            topic="t.approved",
            offset=4,
            **kw,
        ),
        summarize(
            "AuditRecord",
            {"stage": "intake", "transition": "received", "at": NOW, "seq": 0, "chain": "intake:0"},
            role="audit",
            topic="t.audit",
            offset=1,
            **kw,
        ),
        summarize(
            "AuditRecord",
            {
                "stage": "intake",
                "transition": "held",
                "at": NOW + 5,
                "outcome": "held",
                "seq": 1,
                "chain": "intake:0",
            },
            role="audit",
            topic="t.audit",
            offset=2,
            **kw,
        ),
        summarize(
            "HeldEvent",
            {
                "event_id": eid,
                "approvals": 1,
                "held_at": NOW + 5,
                "rule": "code-publish",
                "event": b"secret body",
            },
            role="approvals",
            topic="t.approvals",
            offset=0,
            **kw,
        ),
        summarize(
            "Decision",
            {
                "event_id": eid,
                "verdict": "APPROVE",
                "reviewer_id": "bob",
                "decided_at": NOW + 700,
                "signature": b"sig",
            },
            role="decisions",
            topic="t.decisions",
            offset=0,
            **kw,
        ),
    ]
    timeline = build_timeline(entries)
    assert [t["label"] for t in timeline] == [
        "intake/received",
        "intake/held held",
        "held for 1 approval(s)",
        "decision APPROVE by bob",
        "outcome APPROVED (REVIEWER)",
    ]
    assert [t["delta_ms"] for t in timeline] == [0, 5, 0, 695, 200]
    assert timeline[-1]["elapsed_ms"] == 900
    text = format_timeline(eid, timeline)
    assert "total 900ms" in text and "secret body" not in text and "sig" not in text.split("bob")[1]
    for t in timeline:
        assert "event" not in t["fields"] and "signature" not in t["fields"]


def test_timeline_falls_back_to_kafka_time() -> None:
    e = summarize(
        "DeadLetter",
        {"error_code": "bad_magic"},
        role="dlq",
        topic="t.dlq",
        partition=0,
        offset=0,
        timestamp_ms=NOW,
    )
    assert e.at_ms == NOW and e.label == "dead letter bad_magic"
