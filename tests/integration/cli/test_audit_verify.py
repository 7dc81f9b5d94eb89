"""``sluice audit verify|export`` against the real Apache Kafka, on topics the test
writes (and tampers with) through a plain producer."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from sluice.audit.chain import ChainHead, ChainWriter, record_hash
from sluice.audit.keys import CheckpointSigner, write_key_pair
from sluice.cli.main import main
from sluice.codec import default_codec
from sluice.kafka import create_topics, make_producer
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from tests.helpers import WorkerProcess, settings_from_env, topics_for, wait_for_count

pytestmark = pytest.mark.integration

PARTITIONS = 3
Placed = tuple[int, int]  # (partition, offset)


NO_VELOCITY_POLICY = (
    Path(__file__).resolve().parents[2] / "data" / "policies" / "golden-8ea3831.yaml"
)


def chain_records(
    signer: CheckpointSigner, chain: str, n: int, *, every: int = 5
) -> list[dict[str, Any]]:
    w = ChainWriter(chain, None, signer=signer, checkpoint_every=every)
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < n:
        out.extend(
            w.append(
                stage="intake",
                transition=("received", "assessed", "held", "approved")[i % 4],
                event_id=f"00000000-0000-4000-8000-{i:012d}",
                run_id=f"run-{i}",
                workflow_id="wf",
                kind="TOOL_CALL",
                actor_id="agent-7",
                rule="default",
                policy_hash="a" * 64,
                content_hash=f"{i:064x}",
                source=f"workflow.events/0/{i}",
            )
        )
        i += 1
    return out[:n]


async def _produce(
    settings: Settings, topic: str, values: list[tuple[int, bytes]], *, transactional: bool
) -> list[Placed]:
    """Write (partition, value) in order; returns where each landed."""
    kw: dict[str, Any] = {"transactional_id": f"{topic}-writer"} if transactional else {}
    producer = make_producer(settings, **kw)
    await producer.start()
    try:
        if transactional:
            await producer.begin_transaction()
        futs = [await producer.send(topic, value, partition=p) for p, value in values]
        metas = await asyncio.gather(*futs)
        if transactional:
            await producer.commit_transaction()
    finally:
        await producer.stop()
    placed = [(m.partition, m.offset) for m in metas]
    await _wait_visible(settings, topic, placed)
    return placed


async def _wait_visible(settings: Settings, topic: str, placed: list[Placed]) -> None:
    """Wait until read_committed readers see every record: the commit markers reach the
    partitions shortly after commit_transaction() returns."""
    want: dict[int, int] = {}
    for p, o in placed:
        want[p] = max(want.get(p, 0), o + 1)
    consumer = AIOKafkaConsumer(**settings.kafka_kwargs(), isolation_level="read_committed")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in want]
        for _ in range(100):
            ends = await consumer.end_offsets(tps)
            if all(ends[tp] >= want[tp.partition] for tp in tps):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("records never became visible to read_committed readers")
    finally:
        await consumer.stop()


def write(
    settings: Settings,
    topic: str,
    records: list[dict[str, Any] | bytes],
    *,
    transactional: bool = True,
) -> list[Placed]:
    """Create ``topic`` and write the records, record seq s to partition s % 3."""
    codec = default_codec()

    async def run() -> list[Placed]:
        await create_topics(settings, names=[topic], partitions=PARTITIONS)
        values = []
        for i, r in enumerate(records):
            value = r if isinstance(r, bytes) else codec.encode("AuditRecord", r)
            part = (r["seq"] if isinstance(r, dict) else i) % PARTITIONS
            values.append((part, value))
        return await _produce(settings, topic, values, transactional=transactional)

    return asyncio.run(run())


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["audit", "verify", "--json", *args])
    out = capsys.readouterr().out
    return code, orjson.loads(out)


@pytest.fixture
def keyfile(tmp_path: Path) -> tuple[CheckpointSigner, Path]:
    path = tmp_path / "audit.key"
    return write_key_pair(path), Path(str(path) + ".pub")


def test_clean_chains_verify(
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer, pub = keyfile
    settings = settings_from_env(sluice_env)
    topic = topics_for(sluice_env).audit
    chains = {c: chain_records(signer, c, 40) for c in ("intake:0", "intake:1", "gate:0")}
    write(settings, topic, [r for recs in chains.values() for r in recs])
    for name, recs in chains.items():  # as the writers do, in their consumer groups
        _commit_chain_head(sluice_env, name, ChainHead(40, recs[-1]["hash"]))
    code, report = verify(capsys, "--public-key", str(pub))
    assert code == 0, report["breaks"]
    assert report["ok"] and report["records"] == 120 and report["signatures_checked"]
    assert set(report["chains"]) == {"intake:0", "intake:1", "gate:0"}
    # opening checkpoint at seq 0, then one after every 5 records: 0, 6, ..., 36
    assert all(c["checkpoints_verified"] == 7 for c in report["chains"].values())
    # Human output names the verdict.
    assert main(["audit", "verify", "--public-key", str(pub)]) == 0
    assert "OK " in capsys.readouterr().out


def _tamper(kind: str, recs: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | bytes], int, str]:
    """Tampered records, the index of the record the break must point at, and ``what``."""
    codec = default_codec()
    out: list[dict[str, Any] | bytes] = list(recs)
    if kind == "byte":
        raw = codec.encode("AuditRecord", recs[13])
        i = raw.index(b"agent-7")
        out[13] = raw[: i + 6] + b"8" + raw[i + 7 :]  # one byte, still valid Avro
        return out, 13, "hash mismatch"
    if kind == "removed":
        del out[13]
        return out, 13, "seq gap"  # seq 14 now sits where the gap shows
    if kind == "swapped":
        out[13], out[16] = out[16], out[13]  # same partition (seq % 3 == 1)
        return out, 16, "out of order"
    if kind == "forged":
        last = recs[-1]
        forged = {**last, "seq": last["seq"] + 1, "prev_hash": last["hash"], "outcome": "approved"}
        out.append(forged)
        return out, len(out) - 1, "hash mismatch"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["byte", "removed", "swapped", "forged"])
def test_tampering_is_detected_and_located(
    kind: str,
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer, pub = keyfile
    settings = settings_from_env(sluice_env)
    topic = topics_for(sluice_env).audit
    tampered, index, what = _tamper(kind, chain_records(signer, "intake:0", 30))
    placed = write(settings, topic, tampered, transactional=False)
    # Links alone (no writers' heads here): the break must be found in the records.
    code, report = verify(capsys, "--public-key", str(pub), "--no-committed-heads")
    assert code == 1
    first = report["first_break"]
    assert first["what"] == what
    assert (first["partition"], first["offset"]) == placed[index]
    assert first["chain"] == "intake:0"
    # The human form names the location too.
    assert main(["audit", "verify", "--public-key", str(pub), "--no-committed-heads"]) == 1
    text = capsys.readouterr().out
    assert f"first broken link: partition {placed[index][0]} offset {placed[index][1]}" in text


def test_truncated_tail_past_checkpoint_with_saved_heads(
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer, pub = keyfile
    settings = settings_from_env(sluice_env)
    recs = chain_records(signer, "intake:0", 30)  # checkpoints at seq 0, 6, 12, 18, 24
    full = f"{sluice_env['SLUICE_TOPIC_PREFIX']}full.audit"
    write(settings, full, recs)
    code, report = verify(capsys, "--topic", full, "--public-key", str(pub))
    assert code == 0
    heads = tmp_path / "heads.json"
    heads.write_bytes(orjson.dumps(report))  # a saved `verify --json` is a valid heads file

    cut = topics_for(sluice_env).audit
    placed = write(settings, cut, recs[:26])  # tail gone past the checkpoint at seq 24
    code, report = verify(capsys, "--public-key", str(pub), "--no-committed-heads")
    assert code == 0  # on its own the truncation is invisible
    code, report = verify(
        capsys, "--public-key", str(pub), "--expect-heads", str(heads), "--no-committed-heads"
    )
    assert code == 1
    first = report["first_break"]
    assert (first["what"], first["seq"]) == ("truncated", 26)
    assert (first["partition"], first["offset"]) == placed[25]  # where the chain now ends


def _commit_head(
    settings: Settings, group: str, topic: str, partition: int, head: ChainHead
) -> None:
    """Commit an offset with the head in its metadata, as the intake worker does."""

    async def run() -> None:
        await create_topics(settings, names=[topic], partitions=PARTITIONS)
        consumer = AIOKafkaConsumer(
            **settings.kafka_kwargs(), group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.commit({tp: OffsetAndMetadata(0, head.to_metadata())})
        finally:
            await consumer.stop()

    asyncio.run(run())


def _commit_chain_head(env: dict[str, str], chain: str, head: ChainHead) -> None:
    """Commit ``chain``'s head where its writer would: intake:<p> on workflow.events p of
    the intake group, gate:<p> on workflow.approvals p of the gate group."""
    stage, part = chain.split(":")
    topics = topics_for(env)
    group, topic = (
        (env["SLUICE_GROUP_ID"], topics.events)
        if stage == "intake"
        else (env["SLUICE_GATE_GROUP_ID"], topics.approvals)
    )
    _commit_head(settings_from_env(env), group, topic, int(part), head)


def test_committed_heads_catch_truncation_and_forged_tail(
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer, pub = keyfile
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    recs = chain_records(signer, "intake:1", 30)
    # The intake worker of events partition 1 committed the head after seq 27.
    _commit_head(
        settings, sluice_env["SLUICE_GROUP_ID"], topics.events, 1, ChainHead(28, recs[27]["hash"])
    )
    # Topic truncated to 20 records: the committed head lies beyond it.
    placed = write(settings, topics.audit, recs[:20])
    code, report = verify(capsys, "--public-key", str(pub))
    assert code == 1
    assert report["committed_heads"]["intake:1"]["seq"] == 28
    first = report["first_break"]
    assert (first["what"], first["chain"], first["seq"]) == ("truncated", "intake:1", 20)
    assert (first["partition"], first["offset"]) == placed[19]
    # The default is off for a topic that is not the deployment's own.
    assert (
        verify(capsys, "--public-key", str(pub), "--topic", topics.audit, "--no-committed-heads")[0]
        == 0
    )

    # A well-forged record after the committed head (seq 28) of an idle chain.
    forged = {**recs[27], "seq": 28, "prev_hash": recs[27]["hash"], "outcome": "approved"}
    forged["hash"] = record_hash(forged)
    _commit_head(
        settings, sluice_env["SLUICE_GROUP_ID"], topics.events, 1, ChainHead(28, recs[27]["hash"])
    )
    full = [*recs[:28], forged]
    other = f"{sluice_env['SLUICE_TOPIC_PREFIX']}copy.audit"
    placed = write(settings, other, full)
    code, report = verify(capsys, "--public-key", str(pub), "--topic", other, "--committed-heads")
    assert code == 1
    first = report["first_break"]
    assert (first["what"], first["seq"]) == ("record after committed head", 28)
    assert (first["partition"], first["offset"]) == placed[28]


def test_bad_input_exits_2(
    sluice_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--topic", f"{sluice_env['SLUICE_TOPIC_PREFIX']}nope"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    assert main(["audit", "verify", "--public-key", str(bad)]) == 2


def test_export_jsonl(
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer, _ = keyfile
    settings = settings_from_env(sluice_env)
    recs = chain_records(signer, "gate:0", 12)
    write(settings, topics_for(sluice_env).audit, recs)
    capsys.readouterr()
    assert main(["audit", "export", "--since", "1h", "--format", "jsonl"]) == 0
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert sorted(x["seq"] for x in lines) == list(range(12))
    cps = [x for x in lines if x["transition"] == "checkpoint"]
    assert cps and all(len(base64.b64decode(x["signature"])) == 64 for x in cps)
    # records written "now" are older than a future --since
    assert main(["audit", "export", "--since", "2999-01-01", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "export", "--since", "soon"]) == 2
    assert main(["audit", "export", "--format", "csv"]) == 2


def _forge(settings: Settings, topic: str, records: list[dict[str, Any]], partition: int) -> None:
    """An attacker with write access to the audit topic: a plain (non-sluice) producer."""
    codec = default_codec()
    values = [(partition, codec.encode("AuditRecord", r)) for r in records]
    asyncio.run(_produce(settings, topic, values, transactional=False))


def _unsigned(chain: str, head: ChainHead | None, n: int) -> list[dict[str, Any]]:
    """Self-consistent records any writer without the service key can compute."""
    w = ChainWriter(chain, head)
    out: list[dict[str, Any]] = []
    for i in range(n):
        out.extend(
            w.append(
                stage="intake",
                transition="approved",
                outcome="approved",
                event_id=f"00000000-0000-4000-8000-{i:012d}",
                kind="CODE_PUBLISH",
                rule="forged",
                at=1_760_000_000_000 + i,
            )
        )
    return out


def test_forged_chains_beside_a_real_worker_fail_with_named_reasons(
    sluice_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real worker writes signed chains; then someone with write access to the real
    audit topic appends chains from genesis and an unsigned tail: verify exits 1 and
    names each."""
    key = tmp_path / "audit.key"
    write_key_pair(key)
    # A policy without velocity rules: intake writes the intake:<p> chains of the events'
    # partitions (with them, intake-velocity:<p> chains of the actors' partitions).
    env = {
        **sluice_env,
        "SLUICE_AUDIT_KEY_FILE": str(key),
        "SLUICE_CHECKPOINT_EVERY": "7",
        "SLUICE_POLICY_FILE": str(NO_VELOCITY_POLICY),
    }
    for k, val in env.items():
        monkeypatch.setenv(k, val)  # the verifier runs with the deployment's settings
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    events = make_events(24, held_share=0.25, seed=5, now_ms=time.time_ns() // 1_000_000)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        # Every event on events partition 0: intake:1 is a valid name no writer used.
        values = [(0, codec.encode("WorkflowEvent", e)) for e in events]
        asyncio.run(_produce(settings, topics.events, values, transactional=False))
        asyncio.run(
            wait_for_count(
                settings, [topics.approved, topics.rejected, topics.approvals], len(events)
            )
        )
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]

    code, report = verify(capsys)
    assert code == 0, report["breaks"]
    assert report["signatures_checked"] and "intake:0" in report["chains"]
    assert "intake:1" not in report["chains"]
    real = report["chains"]["intake:0"]
    assert real["checkpoints_verified"] >= 1

    # 1. A whole chain for a valid but unused partition, from genesis.
    _forge(settings, topics.audit, _unsigned("intake:1", None, 5), partition=1)
    code, report = verify(capsys)
    assert code == 1
    assert report["chains"]["intake:1"]["first_break"]["what"] == "no signed checkpoint"
    assert report["chains"]["intake:0"]["ok"]
    assert main(["audit", "verify"]) == 1
    assert "intake:1: 5 records" in capsys.readouterr().out
    # Without the public key, the writers' committed heads still refuse it.
    monkeypatch.delenv("SLUICE_AUDIT_KEY_FILE")
    code, report = verify(capsys)
    assert code == 1 and not report["signatures_checked"]
    assert report["chains"]["intake:1"]["first_break"]["what"] == "no committed head"
    monkeypatch.setenv("SLUICE_AUDIT_KEY_FILE", str(key))

    # 2. A chain no writer can own (events has 2 partitions).
    _forge(settings, topics.audit, _unsigned("intake:5", None, 3), partition=1)
    code, report = verify(capsys)
    assert code == 1
    assert report["chains"]["intake:5"]["first_break"]["what"] == "unexpected chain"

    # 3. More records after intake:0's last checkpoint than a writer ever leaves unsigned.
    head = ChainHead(real["head"]["seq"], real["head"]["hash"])
    _forge(settings, topics.audit, _unsigned("intake:0", head, 8), partition=0)
    code, report = verify(capsys)
    assert code == 1
    brk = report["chains"]["intake:0"]["first_break"]
    assert brk["what"] == "unsigned run too long"
    assert head.seq < brk["seq"] <= head.seq + 8


def _transitions(w: ChainWriter, start: int, n: int) -> list[dict[str, Any]]:
    """``n`` more transitions of ``w``'s chain (with its checkpoints), numbered from ``start``."""
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        out.extend(
            w.append(
                stage="intake",
                transition="received",
                event_id=f"00000000-0000-4000-8000-{i:012d}",
                run_id=f"run-{i}",
                actor_id="agent-7",
                content_hash=f"{i:064x}",
            )
        )
    return out


def _append(settings: Settings, topic: str, records: list[dict[str, Any]]) -> list[Placed]:
    """Write more records of a chain, seq s to partition s % 3 (as :func:`write`)."""
    return write(settings, topic, list(records))


def _with_state(
    env: dict[str, str], keyfile: tuple[CheckpointSigner, Path], name: str, state: Path
) -> tuple[CheckpointSigner, Settings, str, tuple[str, ...]]:
    """Signer, settings, the test's topic ``<prefix><name>.audit`` and the ``audit verify``
    arguments that check it with the public key and keep its state in ``state``."""
    signer, pub = keyfile
    topic = f"{env['SLUICE_TOPIC_PREFIX']}{name}.audit"
    args = ("--topic", topic, "--public-key", str(pub), "--state", str(state))
    return signer, settings_from_env(env), topic, args


def test_since_checkpoint_reads_only_new_records_and_catches_tampering(
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state" / "verify.json"
    signer, settings, topic, args = _with_state(sluice_env, keyfile, "daily", state)
    writers = {c: ChainWriter(c, None, signer=signer, checkpoint_every=5) for c in ("a:0", "b:1")}
    first = [r for w in writers.values() for r in _transitions(w, 0, 60)]
    _append(settings, topic, first)
    code, report = verify(capsys, *args, "--since-checkpoint")  # no state yet: a full run
    assert code == 0, report["breaks"]
    assert report["records"] == len(first)
    resumed = report["since_checkpoint"]
    assert not resumed["resumed"] and "no state file" in resumed["full_run_because"]
    assert resumed["state_saved"] and state.exists()

    second = [r for w in writers.values() for r in _transitions(w, 60, 10)]
    _append(settings, topic, second)
    code, report = verify(capsys, *args, "--since-checkpoint")
    assert code == 0, report["breaks"]
    total = len(first) + len(second)
    assert report["since_checkpoint"]["resumed"] and report["since_checkpoint"]["chains"] == 2
    assert report["records"] < total / 2, report["records"]
    for name, w in writers.items():
        assert report["chains"][name]["head"] == {"seq": w.head.seq, "hash": w.head.hash}

    # A tampered record written after the saved checkpoints is still found and located.
    third = [r for w in writers.values() for r in _transitions(w, 70, 10)]
    victim = next(i for i, r in enumerate(third) if r["stage"] != "checkpoint" and i > 3)
    third[victim] = {**third[victim], "actor_id": "agent-8"}
    placed = _append(settings, topic, third)
    saved = state.read_bytes()
    code, report = verify(capsys, *args, "--since-checkpoint")
    assert code == 1 and report["since_checkpoint"]["resumed"]
    first_break = report["first_break"]
    assert first_break["what"] == "hash mismatch"
    assert (first_break["partition"], first_break["offset"]) == placed[victim]
    assert state.read_bytes() == saved  # a failed run keeps the last good state

    # The human form says where it resumed (stderr) and still names the break.
    capsys.readouterr()
    assert main(["audit", "verify", *args, "--since-checkpoint"]) == 1
    captured = capsys.readouterr()
    assert "resumed 2 chain(s)" in captured.err
    assert f"partition {placed[victim][0]} offset {placed[victim][1]}" in captured.out


def test_forged_state_file_fails_or_restarts_from_zero(
    sluice_env: dict[str, str],
    keyfile: tuple[CheckpointSigner, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "verify.json"
    signer, settings, topic, args = _with_state(sluice_env, keyfile, "forged", state)
    w = ChainWriter("a:0", None, signer=signer, checkpoint_every=5)
    _append(settings, topic, _transitions(w, 0, 30))
    assert verify(capsys, *args)[0] == 0
    good = orjson.loads(state.read_bytes())

    # Then a tampered region, then more good records with checkpoints after it.
    more = _transitions(w, 30, 20)
    victim = next(i for i, r in enumerate(more) if r["stage"] != "checkpoint" and i > 2)
    more[victim] = {**more[victim], "actor_id": "agent-8"}
    placed = _append(settings, topic, more)
    later_cp = next(
        (i, r) for i, r in enumerate(more) if i > victim + 1 and r["stage"] == "checkpoint"
    )

    def run_with(doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        state.write_bytes(orjson.dumps(doc))
        return verify(capsys, *args, "--since-checkpoint")

    # 1. The checkpoint moved past the tampered region, its hash edited to match a
    # record that is not a checkpoint: refused, a full run from offset 0 finds the break.
    plain_i = victim + 1
    p, o = placed[plain_i]
    forged = {
        **good,
        "checkpoints": {
            "a:0": {
                "seq": more[plain_i]["seq"],
                "hash": more[plain_i]["hash"],
                "partition": p,
                "offset": o,
            }
        },
    }
    code, report = run_with(forged)
    assert code == 1 and not report["since_checkpoint"]["resumed"]
    assert "not the checkpoint" in report["since_checkpoint"]["full_run_because"]
    assert (report["first_break"]["partition"], report["first_break"]["offset"]) == placed[victim]

    # 2. A wrong saved checkpoint hash: refused, full run.
    wrong = orjson.loads(orjson.dumps(good))
    wrong["checkpoints"]["a:0"]["hash"] = "f" * 64
    code, report = run_with(wrong)
    assert code == 1 and not report["since_checkpoint"]["resumed"]
    assert report["first_break"]["what"] == "hash mismatch"

    # 3. A genuine later checkpoint (past the break): the run starts there, the
    # region before it is vouched for by the signature (documented limit).
    i, cp = later_cp
    p, o = placed[i]
    genuine = {
        **good,
        "checkpoints": {"a:0": {"seq": cp["seq"], "hash": cp["hash"], "partition": p, "offset": o}},
        "heads": {},
        "starts": {},
    }
    code, report = run_with(genuine)
    assert report["since_checkpoint"]["resumed"]
    assert report["chains"]["a:0"]["head"]["seq"] == w.head.seq

    # 4. A wrong saved head (the chain must reach it with that hash): a break.
    bad_head = orjson.loads(orjson.dumps(good))
    bad_head["heads"]["a:0"]["hash"] = "e" * 64
    code, report = run_with(bad_head)
    assert code == 1
    assert report["since_checkpoint"]["resumed"]

    # 5. Partition starts moved past the tampered record: the chain misses records,
    # a seq gap (or the break itself) fails the run.
    skip = orjson.loads(orjson.dumps(good))
    skip["starts"] = {str(part): placed[-1][1] + 1 for part in range(PARTITIONS)}
    code, report = run_with(skip)
    assert code == 1
