"""Resuming verification at saved signed checkpoints (pure parts: the verifier, the
state file, the checkpoint re-check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.audit import report as v
from sluice.audit.chain import ChainHead, ChainWriter, record_hash
from sluice.audit.keys import CheckpointSigner
from sluice.audit.resume import (
    CheckpointRef,
    ResumeState,
    load_state,
    save_state,
)
from sluice.audit.resume import check_checkpoint_record as check_one
from sluice.audit.verify import Verifier

from .conftest import fields

Parts = list[list[dict[str, Any]]]


def spread(writer: ChainWriter, parts: Parts, start: int, n: int) -> None:
    """Append ``n`` transitions; record seq s goes to partition s % len(parts)."""
    for i in range(start, start + n):
        for r in writer.append(**fields(i)):
            parts[r["seq"] % len(parts)].append(r)


def run(
    parts: Parts,
    keys: dict[str, Any],
    *,
    state: ResumeState | None = None,
    every: int = 5,
) -> tuple[v.VerifyReport, Verifier, int, ResumeState]:
    """A verification as run_verify does it: resume, read from the start offsets."""
    ver = Verifier(keys, max_unsigned=every)
    starts: dict[int, int] = {}
    if state is not None:
        starts = dict(state.starts)
        for chain, ref in state.checkpoints.items():
            prev = parts[ref.partition][ref.offset]["prev_hash"]
            ver.resume(chain, ref.seq, prev, ref.partition, ref.offset)
            starts[ref.partition] = min(starts.get(ref.partition, ref.offset), ref.offset)
    read = 0
    for p, recs in enumerate(parts):
        for off in range(starts.get(p, 0), len(recs)):
            ver.add(p, off, recs[off])
            read += 1
    rep = ver.finish()
    cps, cp_starts = ver.resume_points()
    ends = {p: len(recs) for p, recs in enumerate(parts)}
    nxt = {p: min(cp_starts.get(p, e), e) for p, e in ends.items()}
    new = ResumeState(
        "t",
        {c: CheckpointRef(*x) for c, x in cps.items()},
        {c: rep.chains[c].head for c in cps},
        nxt,
    )
    return rep, ver, read, new


@pytest.fixture
def keys(signer: CheckpointSigner) -> dict[str, Any]:
    return {signer.key_id: signer.public_key}


def test_resume_reads_only_what_follows_the_checkpoints(
    signer: CheckpointSigner, keys: dict[str, Any]
) -> None:
    parts: Parts = [[], [], []]
    writers = {c: ChainWriter(c, None, signer=signer, checkpoint_every=5) for c in ("a", "b")}
    for w in writers.values():
        spread(w, parts, 0, 40)
    rep, _, read, state = run(parts, keys)
    assert rep.ok and read == sum(map(len, parts))
    assert set(state.checkpoints) == {"a", "b"}
    for w in writers.values():
        spread(w, parts, 40, 12)
    total = sum(map(len, parts))
    rep2, ver, read2, state2 = run(parts, keys, state=state)
    assert rep2.ok, rep2.to_dict()["breaks"]
    assert read2 < total / 2 and ver.skipped > 0
    for name, w in writers.items():
        assert rep2.chains[name].head == w.head
    # A full run agrees on the heads.
    full, _, _, _ = run(parts, keys)
    assert {c: r.head for c, r in full.chains.items()} == {
        c: r.head for c, r in rep2.chains.items()
    }
    assert state2.checkpoints["a"].seq > state.checkpoints["a"].seq


def test_tampered_record_after_the_checkpoint_is_caught(
    signer: CheckpointSigner, keys: dict[str, Any]
) -> None:
    parts: Parts = [[], [], []]
    w = ChainWriter("a", None, signer=signer, checkpoint_every=5)
    spread(w, parts, 0, 30)
    _, _, _, state = run(parts, keys)
    spread(w, parts, 30, 10)
    p = (state.checkpoints["a"].seq + 2) % 3
    victim = next(i for i, r in enumerate(parts[p]) if r["seq"] > state.checkpoints["a"].seq + 1)
    parts[p][victim] = {**parts[p][victim], "actor_id": "agent-8"}
    rep, _, _, _ = run(parts, keys, state=state)
    first = rep.first_break
    assert first is not None and first.what == v.HASH_MISMATCH
    assert (first.partition, first.offset) == (p, victim)


def test_old_seq_after_the_checkpoint_in_its_partition_is_out_of_order(
    signer: CheckpointSigner, keys: dict[str, Any]
) -> None:
    parts: Parts = [[]]
    w = ChainWriter("a", None, signer=signer, checkpoint_every=5)
    spread(w, parts, 0, 20)
    _, _, _, state = run(parts, keys)
    parts[0].append(parts[0][3])  # a replayed old record after the checkpoint
    rep, _, _, _ = run(parts, keys, state=state)
    assert rep.first_break is not None
    assert rep.first_break.what in (v.OUT_OF_ORDER, v.DUPLICATE_SEQ)


def test_saved_head_is_an_anchor_against_a_later_start(
    signer: CheckpointSigner, keys: dict[str, Any]
) -> None:
    parts: Parts = [[]]
    w = ChainWriter("a", None, signer=signer, checkpoint_every=5)
    spread(w, parts, 0, 22)  # records after the last checkpoint
    _, _, _, state = run(parts, keys)
    assert state.heads["a"].seq > state.checkpoints["a"].seq + 1
    # The verifier given the saved head as anchor, reading from a start moved past
    # the chain's last records (an edited file): the chain ends short of its head.
    ref = state.checkpoints["a"]
    ver = Verifier(keys, anchors=state.heads, max_unsigned=5)
    ver.resume("a", ref.seq, parts[0][ref.offset]["prev_hash"], 0, ref.offset)
    ver.add(0, ref.offset, parts[0][ref.offset])
    rep = ver.finish()
    assert rep.first_break is not None and rep.first_break.what == v.TRUNCATED


def test_state_file_round_trip_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = ResumeState(
        "workflow.audit",
        {"intake:0": CheckpointRef(6, "ab" * 32, 0, 17)},
        {"intake:0": ChainHead(9, "cd" * 32)},
        {0: 17, 1: 4},
    )
    assert load_state(path, "workflow.audit") == (None, f"no state file {path} yet")
    save_state(path, state)
    assert load_state(path, "workflow.audit") == (state, None)
    loaded, why = load_state(path, "other.audit")
    assert loaded is None and why is not None and "for topic" in why
    path.write_text('{"version": 1, "topic": "workflow.audit", "checkpoints": {"x": 1}}')
    loaded, why = load_state(path, "workflow.audit")
    assert loaded is None and why is not None and "shape" in why
    path.write_text("not json")
    assert load_state(path, "workflow.audit")[0] is None


def test_checkpoint_recheck(signer: CheckpointSigner, keys: dict[str, Any]) -> None:
    w = ChainWriter("a", None, signer=signer, checkpoint_every=5)
    recs = [r for i in range(8) for r in w.append(**fields(i))]
    cp = next(r for r in recs if r["seq"] > 0 and r["stage"] == "checkpoint")
    ref = CheckpointRef(cp["seq"], cp["hash"], 0, 9)
    assert check_one("a", ref, cp, keys) is None
    assert check_one("b", ref, cp, keys) is not None  # another chain's
    plain = next(r for r in recs if r["stage"] != "checkpoint")
    assert check_one("a", CheckpointRef(plain["seq"], plain["hash"], 0, 1), plain, keys)
    wrong_hash = CheckpointRef(cp["seq"], "0" * 64, 0, 9)
    assert "hash" in (check_one("a", wrong_hash, cp, keys) or "")
    other = CheckpointSigner.generate()
    assert check_one("a", ref, cp, {other.key_id: other.public_key}) is not None
    forged = {**cp, "at": cp["at"] + 1}
    forged["hash"] = record_hash(forged)
    bad_sig = CheckpointRef(forged["seq"], forged["hash"], 0, 9)
    assert "signature" in (check_one("a", bad_sig, forged, keys) or "")
    assert check_one("a", ref, None, keys) is not None
