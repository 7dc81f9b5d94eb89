"""Producer authentication end to end: a ``sluice run`` worker with a producers registry.

Signed events from the Emitter and from ``sluice emit --producer-key`` pass and carry
``producer_key_id`` on the outcome and the audit record; unsigned, forged, spliced and
not-authorized records go to the DLQ with their own codes, counted, and the worker
keeps going.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
import yaml

from sluice.emitter import Emitter, prepare_event
from sluice.kafka import make_producer
from sluice.producers import HEADER_KEY, HEADER_SIG, read_producer_key
from sluice.tools.bench.events import make_events
from tests.helpers import (
    REPO,
    WorkerProcess,
    collect,
    settings_from_env,
    topics_for,
    wait_for_count,
)

pytestmark = pytest.mark.integration

SECRET = "integration-producer-secret-0123456789abcdef"


def _now() -> int:
    return time.time_ns() // 1_000_000


def _files(tmp_path: Path) -> tuple[Path, Path]:
    secret = tmp_path / "agent.secret"
    secret.write_text(SECRET + "\n")
    registry = tmp_path / "producers.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "producers": [
                    {
                        "key_id": "agent-7-2026-11",
                        "algorithm": "hmac-sha256",
                        "secret_file": "agent.secret",
                        "actors": ["agent-7"],
                        "workflows": ["wf-*"],
                    }
                ]
            }
        )
    )
    key = tmp_path / "agent.key"
    key.write_text(
        yaml.safe_dump(
            {
                "format": "sluice.producer-key.v1",
                "key_id": "agent-7-2026-11",
                "algorithm": "hmac-sha256",
                "secret": SECRET,
            }
        )
    )
    os.chmod(key, 0o600)
    return registry, key


def _event(seed: int, **over: object) -> dict[str, object]:
    ev = make_events(1, held_share=0.0, seed=seed, now_ms=_now())[0]
    ev.update(actor={"id": "agent-7", "type": "AGENT", "roles": []}, workflow_id="wf-001")
    ev.update(over)
    return ev


async def test_worker_verifies_producers(sluice_env: dict[str, str], tmp_path: Path) -> None:
    registry, key_file = _files(tmp_path)
    env = {**sluice_env, "SLUICE_PRODUCERS_FILE": str(registry)}
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    signer = read_producer_key(key_file)

    good = [_event(i, event_id=str(uuid.uuid4())) for i in range(4)]
    cli_event = _event(50, event_id=str(uuid.uuid4()))
    impostor = _event(60, actor={"id": "ＢＯＢ", "type": "HUMAN", "roles": []})  # noqa: RUF001
    spliced_src = _event(70)
    spliced_body = _event(71, content="approve the wire transfer")

    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        async with Emitter(settings, producer_key=signer) as emitter:
            for ev in good:
                await emitter.emit(ev)
            await emitter.emit(impostor)  # a valid key, speaking for someone else
            await emitter.emit_raw(  # unsigned
                prepare_event(_event(80)), key=b"run-unsigned"
            )
        raw = make_producer(settings)
        await raw.start()
        try:
            src = prepare_event(spliced_src)
            body = prepare_event(spliced_body)
            k = str(spliced_src["run_id"]).encode()
            stolen = signer.headers(topics.events, k, src)
            await raw.send_and_wait(topics.events, body, key=k, headers=stolen)
            other_topic = signer.headers("workflow.events", k, src)
            await raw.send_and_wait(topics.events, src, key=k, headers=other_topic)
            await raw.send_and_wait(
                topics.events, src, key=k, headers=[(HEADER_KEY, b"\xff\xfe"), stolen[1]]
            )
            await raw.send_and_wait(
                topics.events, src, key=k, headers=[(HEADER_KEY, b"nobody"), stolen[1]]
            )
            await raw.send_and_wait(topics.events, src, key=k, headers=[(HEADER_SIG, b"AAAA")])
        finally:
            await raw.stop()
        events_file = tmp_path / "events.jsonl"
        events_file.write_bytes(orjson.dumps(cli_event) + b"\n")
        cli = subprocess.run(
            [
                *(sys.executable, "-m", "sluice", "emit"),
                *("--producer-key", str(key_file), "--json", str(events_file)),
            ],
            env={**os.environ, **env, "PYTHONPATH": str(REPO / "streams")},
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr.decode()[-2000:]
        expected = len(good) + 1 + 7
        outs = [topics.approved, topics.rejected, topics.approvals, topics.dlq]
        got = await wait_for_count(settings, outs, expected)
        metrics = worker.metrics_text()
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]

    passed = [r for t in outs[:3] for r in got[t]]
    assert sorted(r["event_id"] for r in passed) == sorted(
        str(e["event_id"]) for e in [*good, cli_event]
    )
    assert {r["producer_key_id"] for r in passed} == {"agent-7-2026-11"}
    codes = sorted(r["error_code"] for r in got[topics.dlq])
    assert codes == sorted(
        [
            "producer_not_authorized",
            "producer_unsigned",
            "producer_bad_signature",
            "producer_bad_signature",
            "producer_malformed",
            "producer_unknown_key",
            "producer_unsigned",
        ]
    )
    for dead in got[topics.dlq]:
        assert SECRET.encode() not in orjson.dumps(dead, default=repr)
    audit = await collect(settings, topics.audit)
    by_event = {a["event_id"]: a for a in audit if a.get("stage") == "intake"}
    for ev in good:
        assert by_event[ev["event_id"]]["producer_key_id"] == "agent-7-2026-11"
    assert 'sluice_validation_failures_total{reason="producer_bad_signature"} 2.0' in metrics
    assert 'sluice_validation_failures_total{reason="producer_unsigned"} 2.0' in metrics
    assert SECRET not in (tmp_path / "worker.log").read_text()
    # the audit chain with producer_key_id in it still verifies
    verify = subprocess.run(
        [sys.executable, "-m", "sluice", "audit", "verify", "--topic", topics.audit, "--json"],
        env={**os.environ, **env, "PYTHONPATH": str(REPO / "streams")},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout.decode()[-2000:] + verify.stderr.decode()[-2000:]


async def test_non_utf8_header_name_is_not_poison(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    """A record whose header *name* is not UTF-8 (the broker stores it; aiokafka alone
    raises on every fetch of the partition) reaches the DLQ; the next record flows."""
    from aiokafka import AIOKafkaProducer

    from tests.unit.producers.test_producers import _crafted_batch

    registry, key_file = _files(tmp_path)
    env = {**sluice_env, "SLUICE_PRODUCERS_FILE": str(registry)}
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    signer = read_producer_key(key_file)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        after = _event(91, event_id=str(uuid.uuid4()))
        raw = AIOKafkaProducer(**settings.kafka_kwargs(), enable_idempotence=False, acks=1)
        await raw.start()
        try:
            builder = raw.create_batch()
            builder.append(key=b"k", value=b"placeholder", timestamp=None)
            builder._buffer = _crafted_batch(b"\xff\xfe", prepare_event(_event(90)), 0)
            meta = await (await raw.send_batch(builder, topics.events, partition=0))
            assert meta is not None and meta.offset == 0
            body = prepare_event(after)
            k = str(after["run_id"]).encode()
            await raw.send_and_wait(
                topics.events,
                body,
                key=k,
                partition=0,
                headers=signer.headers(topics.events, k, body),
            )
        finally:
            await raw.stop()
        outs = [topics.approved, topics.rejected, topics.approvals, topics.dlq]
        got = await wait_for_count(settings, outs, 2, timeout=60)
    finally:
        code = worker.stop()
    log_text = (tmp_path / "worker.log").read_text()
    assert code == 0, log_text[-3000:]
    assert [d["error_code"] for d in got[topics.dlq]] == ["producer_unsigned"], log_text[-3000:]
    assert [r["event_id"] for t in outs[:3] for r in got[t]] == [after["event_id"]]
