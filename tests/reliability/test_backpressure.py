"""Back-pressure: an output topic disappears while the worker runs. The worker stops
making progress (no offsets committed past records it could not produce, memory
bounded) and, once the topic is back, resumes without loss."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from sluice.kafka import create_topics
from sluice.tools.bench.events import make_events
from sluice.tools.chaos.accounting import account, group_lag, settle
from sluice.tools.chaos.load import encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle, rss_kb
from sluice.tools.chaos.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

#: Seconds the topic stays deleted. Longer than the producer's request timeout (30 s)
#: exercises batches that expire while their partition has no leader.
OUTAGE_S = int(os.environ.get("SLUICE_CHAOS_OUTAGE_S", "15"))


async def test_output_topic_deleted_then_recreated(scenario: Scenario) -> None:
    scn = scenario
    now = time.time_ns() // 1_000_000
    first = make_events(300, held_share=0.05, seed=51, now_ms=now)
    second = make_events(3000, held_share=0.05, seed=52, now_ms=now)
    to_approve = [
        e
        for e in second
        if e["kind"] != "CODE_PUBLISH"
        and e["data_classification"] != "CONFIDENTIAL"
        and e["step"] != "step-13"
    ]
    worker = WorkerHandle(scn.env, scn.workdir / "worker.log", worker_id="bp-w0")
    worker.start()
    assert await asyncio.to_thread(worker.wait_ready, 60)
    group = scn.env["SLUICE_GROUP_ID"]
    try:
        await pace(scn.settings, scn.topics.events, encode_events(first), 2000)
        acc1, snap1 = await settle(scn, [e["event_id"] for e in first], within_s=60)
        assert acc1.ok, acc1.as_dict()
        assert worker.pid is not None
        rss_before = rss_kb(worker.pid)
        admin = AIOKafkaAdminClient(**scn.settings.kafka_kwargs())
        await admin.start()
        try:
            await admin.delete_topics([scn.topics.approved])
        finally:
            await admin.close()
        await pace(scn.settings, scn.topics.events, encode_events(second), 3000)
        rss_samples = []
        for _ in range(OUTAGE_S):  # the outage
            await asyncio.sleep(1)
            assert worker.pid is not None, "the worker must wait, not die"
            rss_samples.append(rss_kb(worker.pid))
        lag_during = await group_lag(scn.settings, group, [scn.topics.events])
        await create_topics(scn.settings, scn.topics, names=[scn.topics.approved])
        t_back = time.monotonic()
        # Settle on the second phase only: the first phase's approved records went
        # with the deleted topic (they are added back from the earlier snapshot below).
        _, snap = await settle(scn, [e["event_id"] for e in second], within_s=60)
        resumed_s = time.monotonic() - t_back
        lag_end = await group_lag(scn.settings, group, [scn.topics.events])
        aborted = worker.metric("sluice_transactions_aborted_total")
    finally:
        code = worker.stop()
    # The approved records of the first phase were deleted with the topic: add them back.
    snap.approved += [x for x in snap1.approved if x[0] in {e["event_id"] for e in first}]
    acc = account([e["event_id"] for e in first + second], snap)
    growth_mb = (max(rss_samples) - rss_before) / 1024
    print(
        "\nback-pressure:",
        json.dumps(
            {
                **acc.as_dict(),
                "lag_during_outage": lag_during,
                "rss_before_mb": round(rss_before / 1024, 1),
                "rss_max_outage_mb": round(max(rss_samples) / 1024, 1),
                "aborted_transactions": aborted,
                "resumed_in_s": round(resumed_s, 1),
                "lag_end": lag_end,
            }
        ),
    )
    assert code == 0
    # Stalled: the records it could not deliver were not committed as done.
    assert lag_during >= 1
    # Bounded: nowhere near buffering without limit (3000 ~1 KB events in flight at most).
    assert growth_mb < 200
    # Resumed without loss once the topic was back; nothing doubled.
    assert acc.ok and acc.accounted == len(first) + len(second), acc.as_dict()
    assert {e["event_id"] for e in to_approve} <= {eid for eid, _ in snap.approved}
    assert lag_end == 0


async def _set_max_message_bytes(scn: Scenario, topic: str, value: str) -> None:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**scn.settings.kafka_kwargs())
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": value})]
        )
    finally:
        await admin.close()


async def test_output_topic_refuses_records_then_accepts(scenario: Scenario) -> None:
    """The broker refuses every write to approved (non-retriable: record too large for
    the topic). The worker must not commit input offsets past the refused records."""
    scn = scenario
    now = time.time_ns() // 1_000_000
    first = make_events(200, held_share=0.0, seed=61, now_ms=now)
    second = make_events(400, held_share=0.0, seed=62, now_ms=now)
    worker = WorkerHandle(scn.env, scn.workdir / "worker.log", worker_id="bp-w1")
    worker.start()
    assert await asyncio.to_thread(worker.wait_ready, 60)
    group = scn.env["SLUICE_GROUP_ID"]
    try:
        await pace(scn.settings, scn.topics.events, encode_events(first), 2000)
        acc1, _ = await settle(scn, [e["event_id"] for e in first], within_s=60)
        assert acc1.ok, acc1.as_dict()
        await _set_max_message_bytes(scn, scn.topics.approved, "512")  # Outcomes are ~1.3 KB
        await pace(scn.settings, scn.topics.events, encode_events(second), 2000)
        await asyncio.sleep(8)
        assert worker.pid is not None, "the worker must wait, not die"
        lag_during = await group_lag(scn.settings, group, [scn.topics.events])
        await _set_max_message_bytes(scn, scn.topics.approved, str(16 * 1024 * 1024))
        acc, _ = await settle(scn, [e["event_id"] for e in first + second], within_s=45)
        aborted = worker.metric("sluice_transactions_aborted_total")
    finally:
        code = worker.stop()
    print(
        "\nrefusing output:",
        json.dumps(
            {**acc.as_dict(), "lag_during_refusal": lag_during, "aborted_transactions": aborted}
        ),
    )
    assert code == 0
    assert lag_during >= 1, "offsets were committed past records the broker refused"
    assert acc.ok and acc.accounted == len(first) + len(second), acc.as_dict()
