"""Canonical encoding, chain heads and the chain writer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from sluice.audit.chain import (
    ALL_FIELDS,
    GENESIS_HASH,
    HASHED_FIELDS,
    LATER_FIELDS,
    ChainHead,
    ChainWriter,
    canonical_bytes,
    checkpoint_message,
    record_hash,
)
from sluice.audit.keys import CheckpointSigner, verify_signature
from sluice.audit.verify import verify_records
from sluice.codec import default_codec

from .conftest import fields, located


def test_fields_pinned_to_schema() -> None:
    schema = default_codec().schema("AuditRecord")
    assert tuple(f["name"] for f in schema["fields"]) == ALL_FIELDS + LATER_FIELDS
    assert set(HASHED_FIELDS) == set(ALL_FIELDS) - {"hash"}


def test_canonical_form_is_reproducible_with_stdlib_json() -> None:
    w = ChainWriter("intake:0", None)
    text = 'tab\t nl\n ctl\x01 quote" back\\ uni é漢😀 \u2028 del\x7f'
    (rec,) = w.append(**{**fields(0), "actor_id": text})
    values = [rec[f] for f in HASHED_FIELDS]
    expected = (
        b"sluice.audit.v1\n"
        + json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    )
    assert canonical_bytes(rec) == expected
    assert rec["hash"] == hashlib.sha256(expected).hexdigest()


def test_append_links_records() -> None:
    w = ChainWriter("gate:3", None)
    a = w.append(**fields(0))
    b = w.append(**fields(1))
    assert [len(a), len(b)] == [1, 1]
    assert a[0]["chain"] == b[0]["chain"] == "gate:3"
    assert (a[0]["seq"], b[0]["seq"]) == (0, 1)
    assert a[0]["prev_hash"] == GENESIS_HASH
    assert b[0]["prev_hash"] == a[0]["hash"] == record_hash(a[0])
    assert w.head == ChainHead(2, b[0]["hash"])


def test_every_field_is_covered_by_the_hash() -> None:
    (rec,) = ChainWriter("intake:0", None).append(**fields(2))
    for name in HASHED_FIELDS:
        changed = dict(rec)
        value = rec[name]
        if isinstance(value, int):
            changed[name] = value + 1
        elif isinstance(value, list):
            changed[name] = [*value, "x"]
        elif value is None:
            changed[name] = b"x" if name == "signature" else "x"
        else:
            changed[name] = value + "x"
        assert record_hash(changed) != rec["hash"], name


def test_null_and_empty_string_hash_differently() -> None:
    (rec,) = ChainWriter("intake:0", None).append(**{**fields(1), "outcome": None})
    assert record_hash({**rec, "outcome": ""}) != rec["hash"]


def test_avro_roundtrip_keeps_the_hash(signer: CheckpointSigner) -> None:
    codec = default_codec()
    w = ChainWriter("intake:1", None, signer=signer, checkpoint_every=1)
    recs = w.append(**{**fields(0), "detectors": ("email", "jwt")})
    assert [r["transition"] for r in recs] == ["checkpoint", "received", "checkpoint"]
    for rec in recs:
        back = codec.decode("AuditRecord", codec.encode("AuditRecord", rec))
        assert record_hash(back) == rec["hash"]


def test_checkpoints_are_due_every_n_and_signed(signer: CheckpointSigner) -> None:
    w = ChainWriter("intake:0", None, signer=signer, checkpoint_every=3)
    out: list[dict[str, Any]] = []
    for i in range(7):
        out.extend(w.append(**fields(i)))
    kinds = [r["transition"] == "checkpoint" for r in out]
    # opening checkpoint, 3 records, checkpoint, 3 records, checkpoint, 1 record
    assert kinds == [True] + [False] * 3 + [True] + [False] * 3 + [True] + [False]
    opening = out[0]
    assert (opening["seq"], opening["prev_hash"]) == (0, GENESIS_HASH)
    cp = out[4]
    for c in (opening, cp):
        assert c["stage"] == "checkpoint" and c["key_id"] == signer.key_id
        msg = checkpoint_message(c["chain"], c["seq"], c["prev_hash"], c["at"], c["key_id"])
        assert verify_signature(signer.public_key, c["signature"], msg)
    assert cp["prev_hash"] == out[3]["hash"]
    assert out[5]["prev_hash"] == cp["hash"]


def test_forced_checkpoint(signer: CheckpointSigner) -> None:
    w = ChainWriter("intake:0", None, signer=signer, checkpoint_every=100)
    assert w.checkpoint() is None  # nothing yet
    w.append(**fields(0))  # opening checkpoint (seq 0) and the record (seq 1)
    cp = w.checkpoint()
    assert cp is not None and cp["seq"] == 2
    assert w.checkpoint() is None  # nothing since
    assert w.head.seq == 3


def test_unsigned_writer_never_checkpoints() -> None:
    w = ChainWriter("intake:0", None, checkpoint_every=1)
    out = [r for i in range(5) for r in w.append(**fields(i))]
    assert len(out) == 5 and w.checkpoint() is None
    assert all(r["signature"] is None for r in out)


def test_rollback_rewrites_the_same_seqs(signer: CheckpointSigner) -> None:
    w = ChainWriter("intake:0", None, signer=signer, checkpoint_every=2)
    kept = w.append(**fields(0))  # opening checkpoint, record
    before = w.head
    w.append(**fields(1))  # ... an aborted transaction, with a checkpoint in it
    w.rollback(before)
    again = w.append(**fields(2))
    assert again[0]["seq"] == 2 and again[0]["prev_hash"] == kept[-1]["hash"]
    # The checkpoint undone by the rollback is written again on schedule.
    assert [r["transition"] for r in again] == ["held", "checkpoint"]
    assert verify_records(located(kept + again), {signer.key_id: signer.public_key}).ok


def test_resumed_writer_continues_the_chain(signer: CheckpointSigner) -> None:
    a = ChainWriter("intake:0", None, signer=signer, checkpoint_every=4)
    first = [r for i in range(6) for r in a.append(**fields(i))]
    head = ChainHead.from_metadata(a.head.to_metadata())
    b = ChainWriter("intake:0", head, signer=signer, checkpoint_every=4)
    second = [r for i in range(6, 12) for r in b.append(**fields(i))]
    assert second[0]["seq"] == a.head.seq
    report = verify_records(located(first + second), {signer.key_id: signer.public_key})
    assert report.ok and report.chains["intake:0"].head == b.head


@pytest.mark.parametrize(
    "bad",
    [
        {"chain": "x"},
        {"seq": 3},
        {"hash": "0"},
        {"signature": b"x"},
        {"key_id": "k"},
        {"nonsense": 1},
        {"transition": "checkpoint"},
        {"stage": "checkpoint"},
        {"transition": None},
    ],
)
def test_append_refuses(bad: dict[str, Any]) -> None:
    w = ChainWriter("intake:0", None)
    with pytest.raises(ValueError):
        w.append(**{**fields(0), **bad})
    assert w.head == ChainHead.genesis()  # nothing consumed


def test_at_defaults_to_now() -> None:
    (rec,) = ChainWriter("intake:0", None).append(stage="intake", transition="received")
    assert isinstance(rec["at"], int) and rec["at"] > 1_700_000_000_000


def test_head_metadata_roundtrip() -> None:
    head = ChainHead(123456, "ab" * 32)
    text = head.to_metadata()
    assert len(text) < 200
    assert ChainHead.from_metadata(text) == head
    assert ChainHead.from_metadata(ChainHead.genesis().to_metadata()) == ChainHead.genesis()


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "garbage",
        "sluice-audit/1:12:" + "g" * 64,
        "sluice-audit/1:-1:" + "a" * 64,
        "sluice-audit/1:01:" + "a" * 64,
        "sluice-audit/1:5:" + "a" * 63,
        "sluice-audit/1:0:" + "a" * 64,  # seq 0 must carry the genesis hash
        "sluice-audit/1:5:" + "0" * 64,  # and only seq 0 may
        "sluice-audit/2:5:" + "a" * 64,
    ],
)
def test_head_metadata_garbage_is_none(text: str | None) -> None:
    assert ChainHead.from_metadata(text) is None


def test_future_fields_extend_the_hash_only_when_set() -> None:
    (rec,) = ChainWriter("intake:0", None).append(**fields(0))
    assert record_hash({**rec, "new_field": None}) == rec["hash"]
    assert record_hash({**rec, "new_field": "v"}) != rec["hash"]


def test_every_writer_opens_its_chain_with_a_checkpoint(signer: CheckpointSigner) -> None:
    """Genesis and resume alike: a chain written with the key is signed from its start,
    so a chain someone appends from genesis without the key has no valid checkpoint."""
    w = ChainWriter("gate:0", None, signer=signer, checkpoint_every=1000)
    first = w.append(**fields(0))
    assert [r["seq"] for r in first] == [0, 1] and first[0]["transition"] == "checkpoint"
    assert [r["transition"] for r in w.append(**fields(1))] == ["assessed"]  # only once
    resumed = ChainWriter("gate:0", w.head, signer=signer, checkpoint_every=1000)
    again = resumed.append(**fields(2))
    assert [r["transition"] for r in again] == ["checkpoint", "held"]
    assert again[0]["prev_hash"] == w.head.hash and again[0]["seq"] == w.head.seq


def test_rollback_of_the_opening_checkpoint_writes_it_again(signer: CheckpointSigner) -> None:
    w = ChainWriter("intake:3", None, signer=signer, checkpoint_every=1000)
    w.append(**fields(0))  # aborted: opening checkpoint and record gone
    w.rollback(ChainHead.genesis())
    recs = w.append(**fields(1))
    assert [(r["seq"], r["transition"]) for r in recs] == [(0, "checkpoint"), (1, "assessed")]
    keys = {signer.key_id: signer.public_key}
    assert verify_records(located(recs), keys, max_unsigned=1000).ok


def test_v1_hash_is_pinned() -> None:
    """Hashes of known records, computed before the field list was derived from the
    schema: a field added to AuditRecord.avsc but not to LATER_FIELDS changes them."""
    w = ChainWriter("intake:0", None)
    (a,) = w.append(**fields(0))
    (b,) = w.append(**fields(1), producer_key_id="pk-1", reviewer_id="rv", decision_id="d")
    assert a["hash"] == "79180f0f11658cce5506a85ef018d1e6febb429f98230fee33691f14b8dc8f98"
    assert b["hash"] == "44f793fe8958ed54b1475d00b5f98df71e940540297cbc2452877e758943eae5"
