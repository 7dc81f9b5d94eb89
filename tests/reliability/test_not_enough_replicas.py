"""The broker refuses the gate's produce requests with NotEnoughReplicas (as a broker
fenced by its controller does) for longer than the transaction timeout, then recovers:
the gate must release the held events with a valid quorum once it can, in the same
process, each exactly once.

The fault: workflow.events.approved is replicated on the session broker and a second,
broker-only node that joins its cluster, with ``min.insync.replicas=2``. Stopping the
second node shrinks the ISR to one, so every acks=all produce there fails with
NOT_ENOUGH_REPLICAS; starting it again ends the fault. (Raising min.insync.replicas
above the replication factor no longer does this: Kafka 4 caps the effective minimum
ISR at the replica count.) The worker runs with a short transaction timeout so the
broker times out - aborts and fences - the open transaction during the fault: the path
that used to stall or kill the gate.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from sluice.audit.keys import write_key_pair
from sluice.codec import default_codec
from sluice.kafka import create_topics, make_producer, read_topic
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.tools.chaos.accounting import settle, snapshot
from sluice.tools.chaos.load import encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle
from sluice.tools.chaos.scenario import Scenario
from sluice.tools.dev.broker import KafkaBroker, free_port
from tests.helpers import run_sluice

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

N = 6
TXN_TIMEOUT_MS = 4000
#: Broker default of transaction.abort.timed.out.transaction.cleanup.interval.ms.
BROKER_TXN_SWEEP_S = 10.0


async def _brokers(settings: Settings) -> list[int]:
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        return [b["node_id"] for b in (await admin.describe_cluster())["brokers"]]
    finally:
        await admin.close()


async def _single_broker_topics(scn: Scenario) -> None:
    """Everything but approved, and Kafka's internal topics, on the session broker only:
    created before the second node joins, so the fault touches approved alone."""
    approved = scn.topics.approved
    await create_topics(scn.settings, names=[t for t in scn.topics.all() if t != approved])
    producer = make_producer(scn.settings, transactional_id=f"{approved}-init")
    await producer.start()  # InitProducerId: __transaction_state exists
    await producer.stop()
    consumer = AIOKafkaConsumer(
        **scn.settings.kafka_kwargs(), group_id=f"{approved}-init", enable_auto_commit=False
    )
    await consumer.start()
    try:  # an offset commit: __consumer_offsets exists
        tp = TopicPartition(scn.topics.events, 0)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(0, "")})
    finally:
        await consumer.stop()


async def _replicated_approved(scn: Scenario) -> None:
    """approved on brokers 1 and 2 with min.insync.replicas=2."""
    deadline = time.monotonic() + 60
    while 2 not in await _brokers(scn.settings):
        assert time.monotonic() < deadline, "the second broker never registered"
        await asyncio.sleep(0.5)
    approved = scn.topics.approved
    configs = {**scn.topics.configs().get(approved, {}), "min.insync.replicas": "2"}
    admin = AIOKafkaAdminClient(**scn.settings.kafka_kwargs())
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    approved,
                    num_partitions=-1,
                    replication_factor=-1,
                    replica_assignments={p: [1, 2] for p in range(scn.settings.partitions)},
                    topic_configs=configs,
                )
            ]
        )
    finally:
        await admin.close()


@pytest.fixture
def second_broker(
    scenario: Scenario, kafka_broker: KafkaBroker, tmp_path: Path
) -> Iterator[KafkaBroker]:
    """A broker-only node (id 2) in the session broker's cluster holding the second
    replica of approved; stopped at the end."""
    asyncio.run(_single_broker_topics(scenario))
    node = kafka_broker.joining_broker(2, free_port(), tmp_path / "broker-2")
    node.start(timeout=120)
    try:
        asyncio.run(_replicated_approved(scenario))
        yield node
    finally:
        node.stop()


async def _held(scn: Scenario, n: int) -> dict[str, dict[str, Any]]:
    codec = default_codec()
    deadline = time.monotonic() + 60
    while True:
        held: dict[str, dict[str, Any]] = {}
        async for r in read_topic(scn.settings, scn.topics.approvals):
            h = codec.decode("HeldEvent", r.value)
            held[h["event_id"]] = h
        if len(held) >= n or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.5)


#: What the worker logs once the fault bites: aiokafka logs each refused produce;
#: librdkafka (SLUICE_KAFKA_CLIENT=confluent) retries silently until the records of the
#: transaction time out, and logs that.
FAULT_NEEDLES = ("NotEnoughReplicas", "NOT_ENOUGH_REPLICAS", "message(s) timed out")


async def _wait_log(path: Path, needles: tuple[str, ...], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if any(n in text for n in needles):
            return True
        await asyncio.sleep(0.5)
    return False


async def test_gate_releases_after_not_enough_replicas(
    scenario: Scenario, second_broker: KafkaBroker
) -> None:
    scn = scenario
    key = scn.workdir / "audit.key"
    write_key_pair(key)
    env = {
        **scn.env,
        "SLUICE_TRANSACTION_TIMEOUT_MS": str(TXN_TIMEOUT_MS),
        # Signed audit chains, checkpoints close together: the aborted transactions'
        # records and checkpoints must leave no trace in the chains.
        "SLUICE_AUDIT_KEY_FILE": str(key),
        "SLUICE_CHECKPOINT_EVERY": "3",
    }
    evs = make_events(N, held_share=1.0, seed=17, now_ms=time.time_ns() // 1_000_000)
    for ev in evs:
        ev.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
        ev["actor"] = {"id": "agent-9", "type": "AGENT", "roles": []}
    ids = [e["event_id"] for e in evs]
    before, during = ids[:2], ids[2:]
    log_path = scn.workdir / "worker.log"
    worker = WorkerHandle(env, log_path, worker_id="ner-w0")
    worker.start()
    recovered_s = -1.0
    try:
        assert await asyncio.to_thread(worker.wait_ready, 60)
        pid = worker.pid
        await pace(scn.settings, scn.topics.events, encode_events(evs), rate=1000)
        held = await _held(scn, N)
        assert len(held) == N

        async def decide(eids: list[str]) -> None:
            items = [(eid.encode(), scn.decision(held[eid], "rm1")) for eid in eids]
            await pace(scn.settings, scn.topics.decisions, items, rate=1000)

        # The release path works before the fault.
        await decide(before)
        await settle(scn, ids, must_release=before, within_s=60, quiet=0)
        snap = await snapshot(scn.settings, scn.topics)
        assert {eid for eid, _ in snap.approved} == set(before)

        # Fault on: the ISR of approved shrinks below min.insync.replicas.
        await asyncio.to_thread(second_broker.stop)
        await decide(during)
        bit = await _wait_log(log_path, FAULT_NEEDLES, 60)
        assert bit, "the fault never bit\n" + log_path.read_text(errors="replace")[-3000:]
        # Longer than the transaction timeout plus the broker's sweep of timed-out
        # transactions: the broker aborts the open transaction and fences its epoch.
        await asyncio.sleep(TXN_TIMEOUT_MS / 1000 + BROKER_TXN_SWEEP_S + 2)
        snap = await snapshot(scn.settings, scn.topics)
        assert not {eid for eid, _ in snap.approved} & set(during), "released during the fault"

        # Fault off: the second replica is back.
        await asyncio.to_thread(second_broker.start, 120)
        t_restore = time.monotonic()
        acc, snap = await settle(scn, ids, must_release=during, within_s=120)
        recovered_s = time.monotonic() - t_restore
        alive = worker.proc is not None and worker.proc.poll() is None
        same_pid = worker.pid == pid
    finally:
        code = worker.stop()
    print(
        "\nnot enough replicas:",
        json.dumps({**acc.as_dict(), "recovered_after_restore_s": round(recovered_s, 1)}),
    )
    log_tail = log_path.read_text(errors="replace")[-4000:]
    assert alive and same_pid, "the worker must recover in process, not exit\n" + log_tail
    released = [eid for eid, _ in snap.approved]
    assert sorted(released) == sorted(ids), (acc.as_dict(), log_tail)  # each exactly once
    assert not snap.rejected and acc.still_held == 0
    assert acc.ok, acc.as_dict()
    assert code == 0
    # The audit chains verify against the committed heads, signatures checked.
    verify = run_sluice(env, "audit", "verify", "--json", timeout=300)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]
    report = json.loads(verify.stdout)
    assert report["signatures_checked"] and report["checkpoints"] > 0
