"""verify_records: every kind of tampering is found and located."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from sluice.audit import report as v
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
    assert c.checkpoints == c.checkpoints_verified == 4  # seq 0 (opening), 6, 12, 18
    assert c.last_checkpoint_seq == 18
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
    recs = make_chain(13, every=5)  # checkpoints at seq 0, 6 and 12
    recs[2] = {**recs[2], "outcome": "approved"}
    for i in range(2, 13):
        if i > 2:
            recs[i] = {**recs[i], "prev_hash": recs[i - 1]["hash"]}
        recs[i] = rehash(recs[i])
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset, b.seq) == (v.BAD_SIGNATURE, 6, 6)


def test_checkpoint_signed_by_another_key(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(8, every=5)
    other = CheckpointSigner.generate()
    cp = dict(recs[6])
    cp["key_id"] = other.key_id
    cp["signature"] = other.sign(
        checkpoint_message(cp["chain"], cp["seq"], cp["prev_hash"], cp["at"], cp["key_id"])
    )
    recs[6] = rehash(cp)
    for i in range(7, 8):
        recs[i] = rehash({**recs[i], "prev_hash": recs[i - 1]["hash"]})
    b = only_break(verify_records(located(recs), keys))
    assert (b.what, b.offset) == (v.UNKNOWN_KEY, 6)


def test_unsigned_checkpoint_is_a_break(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(8, every=5)
    recs[6] = rehash({**recs[6], "signature": None})
    for i in range(7, 8):
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


# -- a chain forged from genesis by anyone with write access ---------------------------


def forged_chain(n: int, chain: str = "intake:0", signer: CheckpointSigner | None = None) -> list:
    """What a writer without the service key produces: self-consistent hashes."""
    w = ChainWriter(chain, None, signer=signer, checkpoint_every=5)
    return [r for i in range(n) for r in w.append(**fields(i))][:n]


@pytest.mark.parametrize("n", [1, 4, 5, 40])
def test_forged_genesis_chain_fails_with_a_key(keys: dict[str, Any], n: int) -> None:
    recs = forged_chain(n)
    assert verify_records(located(recs)).ok  # self-consistent: hashes alone pass it
    b = only_break(verify_records(located(recs, partition=2), keys, max_unsigned=5))
    assert (b.what, b.chain) == (v.NO_CHECKPOINT, "intake:0")
    # Located: the first record of the chain, or the first past the bound.
    assert (b.partition, b.offset) == ((2, 0) if n <= 5 else (2, 5))


def test_forged_chain_signed_with_another_key(keys: dict[str, Any]) -> None:
    recs = forged_chain(12, signer=CheckpointSigner.generate())
    b = only_break(verify_records(located(recs), keys, max_unsigned=5))
    assert (b.what, b.seq, b.offset) == (v.UNKNOWN_KEY, 0, 0)


def test_forged_chain_reusing_a_genuine_opening_checkpoint(
    make_chain: Make, keys: dict[str, Any]
) -> None:
    """The opening checkpoint of intake:0 cannot open a forged intake:1: the signature
    covers the chain id."""
    genuine = make_chain(3, chain="intake:0")
    opening = rehash({**genuine[0], "chain": "intake:1"})
    w = ChainWriter("intake:1", ChainHead(1, opening["hash"]))
    rest = [r for i in range(3) for r in w.append(**fields(i))]
    b = only_break(verify_records(located([opening, *rest]), keys, max_unsigned=5))
    assert (b.what, b.seq) == (v.BAD_SIGNATURE, 0)


def test_records_appended_after_the_last_checkpoint_beyond_the_bound(
    make_chain: Make, keys: dict[str, Any]
) -> None:
    recs = make_chain(13, every=5)  # checkpoints at 0, 6, 12
    assert verify_records(located(recs), keys, max_unsigned=5).ok
    tail = ChainWriter("intake:0", ChainHead(13, recs[-1]["hash"]))  # no key
    forged = [r for i in range(13, 19) for r in tail.append(**fields(i))]
    b = only_break(verify_records(located(recs + forged), keys, max_unsigned=5))
    assert (b.what, b.seq, b.offset) == (v.UNSIGNED_RUN, 18, 18)
    # Up to the bound, the tail is only caught by the writer's committed head.
    within = recs + forged[:5]
    assert verify_records(located(within), keys, max_unsigned=5).ok
    b = only_break(
        verify_records(
            located(within), keys, max_unsigned=5, bounds={"intake:0": ChainHead(13, "a" * 64)}
        )
    )
    assert (b.what, b.seq) == (v.AFTER_HEAD, 13)


def test_a_legitimate_chain_never_exceeds_the_bound(keys: dict[str, Any], signer: Any) -> None:
    """Writers resuming (rebalance, restart) and aborting keep every run ≤ checkpoint_every."""
    rng = random.Random(11)
    head: ChainHead | None = None
    out: list[dict[str, Any]] = []
    i = 0
    for _ in range(30):
        w = ChainWriter("gate:1", head, signer=signer, checkpoint_every=7)
        for _ in range(rng.randrange(1, 25)):
            before = w.head
            batch = [r for _ in range(rng.randrange(1, 4)) for r in w.append(**fields(i))]
            i += 1
            if rng.random() < 0.2:
                w.rollback(before)  # aborted transaction: nothing of it is visible
            else:
                out.extend(batch)
        head = w.head
    report = verify_records(located(out), keys, max_unsigned=7)
    assert report.ok, report.first_break
    assert report.chains["gate:1"].checkpoints_verified >= 30


def test_unexpected_chain_name(make_chain: Make, keys: dict[str, Any]) -> None:
    recs = make_chain(8, chain="intake:0") + make_chain(8, chain="intake:7")
    allowed = {"intake:0", "intake:1", "gate:0", "gate:1"}
    report = verify_records(located(recs), keys, chains=allowed, max_unsigned=5)
    assert report.chains["intake:0"].ok
    b = only_break(report)
    assert (b.what, b.chain, b.offset) == (v.UNEXPECTED_CHAIN, "intake:7", 8)


def test_a_chain_no_writer_committed(make_chain: Make) -> None:
    """Complete bounds (every writer's committed head): a whole forged partition chain
    with a valid name fails even without a key."""
    a, b = make_chain(6, chain="gate:0"), make_chain(6, chain="gate:1")
    bounds = {"gate:0": ChainHead(6, a[-1]["hash"])}
    report = verify_records(located(a + b), bounds=bounds)
    assert report.ok  # bounds that may be partial: no verdict on gate:1
    report = verify_records(located(a + b), bounds=bounds, complete_bounds=True)
    first = only_break(report)
    assert (first.what, first.chain, first.seq, first.offset) == (
        v.NO_COMMITTED_HEAD,
        "gate:1",
        0,
        6,
    )
    assert report.chains["gate:0"].ok


def test_max_unsigned_needs_keys(make_chain: Make) -> None:
    # Without the public key nothing can be said about signatures: not enforced.
    assert verify_records(located(forged_chain(30)), max_unsigned=5).ok
    with pytest.raises(ValueError):
        Verifier({}, max_unsigned=0)
