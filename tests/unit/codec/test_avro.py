"""Codec: framing, fingerprints (Avro spec vectors), round trips, evolution, errors."""

from __future__ import annotations

import io
import json
import time

import fastavro
import pytest

from sluice.codec import Codec, default_codec, schema_dir, schema_fingerprint
from sluice.errors import DecodeError, ErrorCode
from sluice.tools.bench.events import make_events


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# Published by the Avro project (share/test/data/schema-tests.txt): canonical form → fingerprint.
@pytest.mark.parametrize(
    ("canonical", "fingerprint"),
    [
        ('"null"', 7195948357588979594),
        ('"boolean"', -6970731678124411036),
        ('"int"', 8247732601305521295),
        ('"long"', -3434872931120570953),
        ('"string"', -8142146995180207161),
    ],
)
def test_crc64_avro_spec_vectors(canonical: str, fingerprint: int) -> None:
    fp = schema_fingerprint(canonical)
    assert len(fp) == 8
    assert _signed(int.from_bytes(fp, "little")) == fingerprint


def _rabin(data: bytes) -> int:
    """The Avro specification's reference CRC-64-AVRO, as an independent oracle."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def test_every_shipped_schema_keeps_its_fingerprint() -> None:
    # fastavro's fingerprint, as framed on the wire, equals the spec's reference for every
    # schema in schemas/ and schemas/history/: switching implementations moved no record.
    from fastavro.schema import to_parsing_canonical_form

    entries = list(Codec()._by_fp.items())
    assert len(entries) == len(list(schema_dir().rglob("*.avsc")))
    for fp, entry in entries:
        canonical = to_parsing_canonical_form(entry.raw)
        assert fp == schema_fingerprint(canonical), entry.name
        assert fp == _rabin(canonical.encode()).to_bytes(8, "little"), entry.name


def test_fingerprint_agrees_with_fastavro() -> None:
    codec = default_codec()
    from fastavro.schema import to_parsing_canonical_form

    raw = json.loads((schema_dir() / "WorkflowEvent.avsc").read_text())
    fp = fastavro.schema.fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")
    assert codec.fingerprint("WorkflowEvent") == bytes.fromhex(fp)


def _samples() -> dict[str, dict]:
    ev = make_events(1, seed=5)[0]
    codec = default_codec()
    body = codec.encode("WorkflowEvent", ev)
    finding = {
        "kind": "secret",
        "detector": "aws_access_key",
        "field": "content",
        "start": 1,
        "end": 21,
        "severity": "high",
        "confidence": 0.9,
        "fingerprint": "ab" * 8,
        "action": "redacted",
    }
    return {
        "WorkflowEvent": ev,
        "Finding": finding,
        "Decision": {
            "decision_id": ev["event_id"],
            "event_id": ev["event_id"],
            "verdict": "REJECT",
            "reviewer_id": "alice",
            "reason": "no",
            "decided_at": 1,
            "key_id": "k",
            "content_hash": "0" * 64,
            "signature": b"\x01" * 64,
        },
        "HeldEvent": {
            "event_id": ev["event_id"],
            "run_id": "r",
            "workflow_id": "w",
            "kind": "CODE_PUBLISH",
            "actor_id": "a",
            "on_behalf_of": None,
            "trace_id": None,
            "event": body,
            "content_hash": "0" * 64,
            "findings": [finding],
            "rule": "x",
            "policy_hash": "p",
            "reason": None,
            "risk_score": 0.5,
            "roles": ["security"],
            "approvals": 2,
            "on_expiry": "REJECT",
            "escalate_roles": [],
            "escalate_ttl_ms": 0,
            "received_at": 1,
            "held_at": 2,
            "expires_at": 3,
        },
        "Outcome": {
            "event_id": ev["event_id"],
            "run_id": "r",
            "workflow_id": "w",
            "kind": "PROMPT",
            "trace_id": None,
            "outcome": "APPROVED",
            "source": "POLICY",
            "rule": "routine",
            "policy_hash": "p",
            "reason": None,
            "reviewers": [],
            "findings": [],
            "event": body,
            "content_hash": "0" * 64,
            "received_at": 1,
            "decided_at": 2,
        },
        "DeadLetter": {
            "error_code": "bad_magic",
            "detail": "d",
            "source_topic": "t",
            "source_partition": 0,
            "source_offset": 5,
            "source_timestamp": None,
            "payload_size": 3,
            "payload_sha256": "0" * 64,
            "schema_fingerprint": None,
            "event_id": None,
            "preview": None,
            "failed_at": 1,
        },
        "AuditRecord": {
            "chain": "intake:0",
            "seq": 0,
            "prev_hash": "0" * 64,
            "hash": "1" * 64,
            "stage": "intake",
            "transition": "approved",
            "event_id": None,
            "run_id": None,
            "workflow_id": None,
            "trace_id": None,
            "kind": None,
            "outcome": None,
            "actor_id": None,
            "reviewer_id": None,
            "decision_id": None,
            "reason_code": None,
            "rule": None,
            "policy_hash": None,
            "content_hash": None,
            "detectors": ["x"],
            "source": None,
            "at": 1,
            "key_id": None,
            "signature": None,
        },
    }


@pytest.mark.parametrize("name", sorted(_samples()))
def test_round_trip_every_schema(name: str) -> None:
    codec = default_codec()
    record = _samples()[name]
    data = codec.encode(name, record)
    assert data[:2] == b"\xc3\x01" and data[2:10] == codec.fingerprint(name)
    back = codec.decode(name, data)
    # Fields the sample leaves out take their schema defaults.
    assert {k: back[k] for k in record} == record
    assert codec.decode_any(data) == (name, back)


def test_old_writer_schema_resolves_into_current() -> None:
    codec = default_codec()
    old = json.loads((schema_dir() / "history" / "WorkflowEvent.v1.avsc").read_text())
    parsed = fastavro.parse_schema(old)
    ev = make_events(1, seed=2)[0]
    v1 = {k: v for k, v in ev.items() if k not in ("trace_id", "cost_usd", "attributes")}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, v1)
    from fastavro.schema import to_parsing_canonical_form

    fp = schema_fingerprint(to_parsing_canonical_form(old))
    assert fp != codec.fingerprint("WorkflowEvent")
    decoded = codec.decode("WorkflowEvent", b"\xc3\x01" + fp + buf.getvalue())
    assert (
        decoded["attributes"] == {} and decoded["trace_id"] is None and decoded["cost_usd"] is None
    )
    assert decoded["content"] == ev["content"]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b"", ErrorCode.TRUNCATED),
        (lambda b: b"\xc3", ErrorCode.TRUNCATED),
        (lambda b: b"xx" + b[2:], ErrorCode.BAD_MAGIC),
        (lambda b: b[:2] + b"\x00" * 8 + b[10:], ErrorCode.UNKNOWN_FINGERPRINT),
        (lambda b: b[: len(b) - 40], ErrorCode.TRUNCATED),
        (lambda b: b + b"\x00", ErrorCode.TRAILING_BYTES),
    ],
)
def test_decode_errors_have_codes(mutate, code: ErrorCode) -> None:  # type: ignore[no-untyped-def]
    codec = default_codec()
    data = codec.encode("WorkflowEvent", make_events(1)[0])
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", mutate(data))
    assert info.value.code == code


def test_wrong_schema_is_refused() -> None:
    codec = default_codec()
    data = codec.encode("DeadLetter", _samples()["DeadLetter"])
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", data)
    assert info.value.code == ErrorCode.WRONG_SCHEMA


def test_invalid_utf8_is_a_code_not_a_crash() -> None:
    codec = default_codec()
    ev = make_events(1)[0]
    ev["step"] = "Z" * 8
    data = codec.encode("WorkflowEvent", ev)
    bad = data.replace(b"Z" * 8, b"\xff\xfe" * 4)
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", bad)
    assert info.value.code == ErrorCode.INVALID_UTF8


def test_every_history_schema_loads() -> None:
    codec = Codec(schema_dir())
    names = list(codec.known_fingerprints().values())
    assert names.count("WorkflowEvent") == 2
    assert time.time() > 0
