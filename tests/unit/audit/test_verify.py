"""verify_records: every kind of tampering is found and located."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from sluice.audit import verify as v
from sluice.audit.chain import ChainHead, ChainWriter, checkpoint_message, record_hash
from sluice.audit.keys import CheckpointSigner
from sluice.audit.verify import Verifier, verify_records

from .conftest import fields, located

Make = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def keys(signer: CheckpointSigner) -> dict[str, Any]:
    return {signer.key_id: signer.public_key}


def rehash(rec: dict[str, Any]) -> dict[str, Any]:
    """What a competent forger does after editing: recompute the record's own hash."""
    return {**rec, "hash": record_hash(rec)}


def only_break(report: v.VerifyReport) -> v.BrokenLink:
    assert not report.ok
    first = report.first_break
    assert first is not None
    return first


def test_clean_chain_verifies(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(23, every=5)
    report = verify_records(located(recs), keys)
    assert report.ok and report.first_break is None
    c = report.chains["intake:0"]
    assert c.records == 23 and c.head.seq == 23 and c.head.hash == recs[-1]["hash"]
    assert c.checkpoints == c.checkpoints_verified == 3  # seq 5, 11, 17
    assert c.last_checkpoint_seq == 17
    orjson.dumps(report.to_dict())  # JSON-ready


def test_interleaved_chains_across_partitions(make_chain: Make, keys: dict[str, Any]) -> None:
    """One chain's records spread over partitions (key = event id) and arrive in any
    partition interleaving: only per-partition order is fixed."""
    rng = random.Random(7)
    chains = {name: make_chain(40, chain=name) for name in ("intake:0", "intake:1", "gate:0")}
    parts: list[list[dict[str, Any]]] = [[], [], []]
    for recs in chains.values():
        for r in recs:
            parts[rng.randrange(3)].append(r)  # each partition keeps the chain's order
    # Read partitions in an adversarial order: last partition first, whole.
    triples = [(p, off, r) for p in (2, 1, 0) for off, r in enumerate(parts[p])]
    report = verify_records(triples, keys)
    assert report.ok, report.to_dict()["breaks"]
    assert {n: c.records for n, c in report.chains.items()} == dict.fromkeys(chains, 40)


def test_changed_field_is_a_hash_mismatch_at_its_offset(
    make_chain: Make, keys: dict[str, Any]
) -> None:
    recs = make_chain(20)
    recs[8] = {**recs[8], "actor_id": "agent-8"}
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.partition, b.offset, b.seq, b.chain) == (v.HASH_MISMATCH, 0, 8, 8, "intake:0")


def test_changed_stored_hash_is_caught(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    recs[8] = {**recs[8], "hash": "f" * 64}
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset) == (v.HASH_MISMATCH, 8)


def test_rehashed_edit_breaks_the_next_link(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    recs[8] = rehash({**recs[8], "outcome": "approved"})
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset, b.seq) == (v.PREV_HASH_MISMATCH, 9, 9)


def test_rewritten_prefix_is_caught_by_the_signed_checkpoint(
    make_chain: Make, keys: dict[str, Any]
) -> None:
    """A forger who rewrites a record and re-links everything after it still cannot
    re-sign the checkpoint that covers it."""
    recs = make_chain(12, every=5)  # checkpoint at seq 5 and 11
    recs[2] = {**recs[2], "outcome": "approved"}
    for i in range(2, 12):
        if i > 2:
            recs[i] = {**recs[i], "prev_hash": recs[i - 1]["hash"]}
        recs[i] = rehash(recs[i])
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset, b.seq) == (v.BAD_SIGNATURE, 5, 5)


def test_checkpoint_signed_by_another_key(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(8, every=5)
    other = CheckpointSigner.generate()
    cp = dict(recs[5])
    cp["key_id"] = other.key_id
    cp["signature"] = other.sign(
        checkpoint_message(cp["chain"], cp["seq"], cp["prev_hash"], cp["at"], cp["key_id"])
    )
    recs[5] = rehash(cp)
    for i in range(6, 8):
        recs[i] = rehash({**recs[i], "prev_hash": recs[i - 1]["hash"]})
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset) == (v.UNKNOWN_KEY, 5)


def test_unsigned_checkpoint_is_a_break(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(8, every=5)
    recs[5] = rehash({**recs[5], "signature": None})
    for i in range(6, 8):
        recs[i] = rehash({**recs[i], "prev_hash": recs[i - 1]["hash"]})
    assert only_break(verify_records(located(recs), keys)).what == v.UNSIGNED_CHECKPOINT


def test_without_keys_signatures_are_unchecked_not_failed(make_chain: Make) -> None:
    report = verify_records(located(make_chain(12, every=5)))
    assert report.ok and report.key_ids == []
    c = report.chains["intake:0"]
    assert c.checkpoints == 2 and c.checkpoints_verified == 0


def test_removed_record_is_a_seq_gap(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    del recs[7]
    b = only_break(verify_records(located(recs), keys))
    # seq 7 is missing; the record now at offset 7 holds seq 8.
    assert (b.what, b.seq, b.offset) == (v.SEQ_GAP, 7, 7)


def test_removed_first_records_are_a_gap(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)[3:]
    b = only_break(verify_records([(0, 3 + i, r) for i, r in enumerate(recs)], keys))
    assert (b.what, b.seq, b.offset) == (v.SEQ_GAP, 0, 3)


def test_swapped_records_are_out_of_order(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    recs[10], recs[11] = recs[11], recs[10]
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset, b.seq) == (v.OUT_OF_ORDER, 11, 10)
    assert "offset 10" in b.detail


def test_duplicated_record(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    recs.insert(12, recs[11])
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset) == (v.DUPLICATE_SEQ, 12)


def test_duplicate_seq_across_partitions(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(10)
    triples = [*located(recs), (1, 0, recs[4])]
    b = only_break(verify_records(triples, keys))
    assert (b.what, b.partition, b.offset) == (v.DUPLICATE_SEQ, 1, 0)


def test_naively_forged_append(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    forged = {**recs[-1], "seq": 20, "prev_hash": recs[-1]["hash"], "outcome": "approved"}
    b = only_break(verify_records(located([*recs, forged]), keys))
    assert (b.what, b.offset) == (v.HASH_MISMATCH, 20)


def test_well_forged_append_beyond_committed_head(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(20)
    forged = rehash({**recs[-1], "seq": 20, "prev_hash": recs[-1]["hash"], "outcome": "approved"})
    committed = {"intake:0": ChainHead(20, recs[-1]["hash"])}
    assert verify_records(located([*recs, forged]), keys).ok  # undetectable alone
    b = only_break(verify_records(located([*recs, forged]), keys, bounds=committed))
    assert (b.what, b.offset, b.seq) == (v.AFTER_HEAD, 20, 20)


def test_forged_append_collides_with_the_writers_next_record(
    make_chain: Make, keys: dict[str, Any]
) -> None:
    recs = make_chain(21)
    forged = rehash({**recs[19], "seq": 20, "prev_hash": recs[19]["hash"], "outcome": "x"})
    # The forger's record lands in partition 1; the writer's own seq 20 follows in 0.
    triples = [*located(recs[:20]), (1, 0, forged), (0, 20, recs[20])]
    b = only_break(verify_records(triples, keys))
    assert b.what in (v.DUPLICATE_SEQ, v.PREV_HASH_MISMATCH)


def test_truncated_tail_with_expected_head(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(30, every=5)
    expected = {"intake:0": ChainHead(30, recs[-1]["hash"])}
    truncated = recs[:19]  # ends past the checkpoint at seq 17
    assert verify_records(located(truncated), keys).ok  # undetectable alone
    b = only_break(verify_records(located(truncated), keys, anchors=expected))
    assert (b.what, b.seq, b.offset) == (v.TRUNCATED, 19, 18)


def test_rewritten_tail_with_expected_head(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(30, every=50)
    expected = {"intake:0": ChainHead(30, recs[-1]["hash"])}
    recs[25] = rehash({**recs[25], "outcome": "approved"})
    for i in range(26, 30):
        recs[i] = rehash({**recs[i], "prev_hash": recs[i - 1]["hash"]})
    assert verify_records(located(recs), keys).ok
    b = only_break(verify_records(located(recs), keys, anchors=expected))
    assert (b.what, b.seq, b.offset) == (v.HEAD_MISMATCH, 29, 29)


def test_anchor_behind_the_end_is_fine(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(30)
    anchors = {"intake:0": ChainHead(12, recs[11]["hash"])}
    assert verify_records(located(recs), keys, anchors=anchors).ok


def test_missing_chain_with_expected_head(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(5)
    anchors = {"gate:2": ChainHead(4, "ab" * 32)}
    b = only_break(verify_records(located(recs), keys, anchors=anchors))
    assert (b.what, b.chain, b.partition) == (v.MISSING_CHAIN, "gate:2", None)


def test_malformed_and_foreign_records(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(5)
    triples: list[tuple[int, int, Any]] = [*located(recs), (0, 5, None), (0, 6, {"x": 1})]
    report = verify_records(triples, keys)
    assert not report.ok and report.malformed_count == 2
    assert report.chains["intake:0"].ok
    assert only_break(report).offset == 5


def test_break_is_first_per_chain_and_other_chains_still_verify(
    make_chain: Make, keys: dict[str, Any]
) -> None:
    a = make_chain(10, chain="intake:0")
    b = make_chain(10, chain="gate:0")
    a[3] = {**a[3], "rule": "x"}
    a[6] = {**a[6], "rule": "y"}
    report = verify_records([*located(a, 0), *located(b, 1)], keys)
    assert report.chains["gate:0"].ok
    brk = report.chains["intake:0"].first_break
    assert brk is not None and brk.offset == 3
    assert report.chains["intake:0"].records == 10
    assert len(report.breaks) == 1


def test_finish_can_be_repeated_with_fresher_bounds(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(10)
    ver = Verifier(keys)
    for p, o, r in located(recs):
        ver.add(p, o, r)
    assert not ver.finish({"intake:0": ChainHead(8, recs[7]["hash"])}).ok
    assert ver.finish({"intake:0": ChainHead(10, recs[9]["hash"])}).ok


def test_resumed_writer_after_restart_verifies(
    signer: CheckpointSigner, keys: dict[str, Any]
) -> None:
    w1 = ChainWriter("intake:0", None, signer=signer, checkpoint_every=3)
    out = [r for i in range(5) for r in w1.append(**fields(i))]
    w2 = ChainWriter("intake:0", ChainHead.from_metadata(w1.head.to_metadata()), signer=signer)
    out += [r for i in range(5, 9) for r in w2.append(**fields(i))]
    cp = w2.checkpoint()
    assert cp is not None
    report = verify_records(located([*out, cp]), keys)
    assert report.ok and report.chains["intake:0"].last_checkpoint_seq == cp["seq"]
