"""``sluice bench``: the intake worker vs a raw aiokafka passthrough of the same records.

Both run in this process against the broker in settings, on fresh topics, one after
the other: the ratio is what matters on a shared, noisy machine.

1. Produce N realistic ~1 KB events (mixed kinds, ~5 % held by the default policy).
2. Passthrough: consume → produce the bytes untouched → commit, as fast as it goes.
3. Pipeline: the sluice intake agent (decode → validate → sanitize → assess → route,
   audit, one transaction per batch) over the same records, as fast as it goes: timed
   from the first publish (once the worker is ready and warmed up) to the last output
   visible to a ``read_committed`` consumer.
4. Latency: a second pipeline run fed at ~half its measured max rate, and a third at a
   fixed 100 events/s (what most deployments see); per event, the upstream send → the
   output visible to a ``read_committed`` consumer.

Beside the plain passthrough, a transactional one (the same loop, but the output and
the input offsets commit in one Kafka transaction per batch, as the stages do) shows
what the transactions alone cost on the same broker in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from sluice.codec import default_codec
from sluice.kafka import create_topics, delete_topics_with_prefix, make_producer
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.topics import Topics

__all__ = ["WARMUP_EVENTS", "run_bench"]


def _bench_policy(work: Any) -> Any:
    """The default policy with its velocity threshold out of reach: the worker runs the
    velocity path (re-key by actor, count, changelog) as shipped, but the bench's 30
    actors sending thousands of events each are not held for their rate, so the held
    share stays the mix's ~5 %."""
    from importlib import resources

    text = resources.files("sluice.policy").joinpath("default.yaml").read_text("utf-8")
    path = work / "bench-policy.yaml"
    path.write_text(
        text.replace("max_events_per_actor_5m: 200", "max_events_per_actor_5m: 1000000000"),
        encoding="utf-8",
    )
    return path


#: Events each pipeline run sends (and waits for) before it starts timing.
WARMUP_EVENTS = 200


async def _produce(
    settings: Settings,
    topic: str,
    payloads: list[tuple[bytes, bytes]],
    rate: float | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        t0 = time.perf_counter()
        futs = []
        for i, (key, value) in enumerate(payloads):
            if rate is not None and i % 50 == 0:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            futs.append(await producer.send(topic, value, key=key))
            if on_progress is not None and not (i + 1) % 1000:
                on_progress(1000)
        await asyncio.gather(*futs)
        if on_progress is not None:
            on_progress(len(payloads) % 1000)
    finally:
        await producer.stop()


async def _passthrough(settings: Settings, src: str, dst: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        src,
        **settings.kafka_kwargs(),
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = make_producer(settings)
    await consumer.start()
    await producer.start()
    try:
        done = 0
        t0 = None
        while done < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            if t0 is None and batch:
                t0 = time.perf_counter()
            futs = [
                await producer.send(dst, m.value, key=m.key)
                for recs in batch.values()
                for m in recs
            ]
            if futs:
                await asyncio.gather(*futs)
                await consumer.commit()
            done += len(futs)
        return n / (time.perf_counter() - (t0 or time.perf_counter()))
    finally:
        await consumer.stop()
        await producer.stop()


async def _txn_passthrough(settings: Settings, src: str, dst: str, n: int) -> float:
    """The passthrough inside transactions: output + input offsets commit together."""
    group = f"bench-txn-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        src,
        **settings.kafka_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = make_producer(settings, transactional_id=group, linger_ms=0, retry_backoff_ms=10)
    await consumer.start()
    await producer.start()
    try:
        done = 0
        t0 = None
        while done < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            if not batch:
                continue
            if t0 is None:
                t0 = time.perf_counter()
            async with producer.transaction():
                futs = [
                    await producer.send(dst, m.value, key=m.key)
                    for recs in batch.values()
                    for m in recs
                ]
                offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
                await producer.send_offsets_to_transaction(offsets, group)
                await asyncio.gather(*futs)
            done += len(futs)
        return n / (time.perf_counter() - (t0 or time.perf_counter()))
    finally:
        await consumer.stop()
        await producer.stop()


async def _count_outputs(
    settings: Settings,
    topics: list[str],
    n: int,
    timeout: float,
    latencies: list[float] | None = None,
    sent_at: dict[bytes, int] | None = None,
) -> float:
    """Wait until ``n`` records are in ``topics``; return the time the last one arrived."""
    consumer = AIOKafkaConsumer(
        *topics,
        **settings.kafka_kwargs(),
        group_id=None,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        seen = 0
        deadline = time.monotonic() + timeout
        last = time.perf_counter()
        while seen < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                seen += len(recs)
                if latencies is not None and sent_at is not None:
                    # Visible to a read_committed consumer now: publish → here.
                    now = time.time_ns() // 1_000_000
                    for r in recs:
                        t = sent_at.get(r.key or b"")
                        if t:
                            latencies.append(now - t)
            if batch:
                last = time.perf_counter()
        if seen < n:
            raise TimeoutError(f"only {seen}/{n} outputs arrived")
        return last
    finally:
        await consumer.stop()


async def _pipeline(
    settings: Settings,
    prefix: str,
    payloads: list[tuple[bytes, bytes]],
    n: int,
    rate: float | None,
    latencies: list[float] | None,
    on_progress: Callable[[int], None] | None = None,
    client: str | None = None,
    processes: int = 1,
    cpu: list[float] | None = None,
) -> float:
    """One timed worker run; returns events/s. ``cpu``: gets the worker's CPU seconds
    (all its processes) over the timed part."""
    import os
    import tempfile
    from pathlib import Path

    from sluice.tools.chaos.procs import WorkerHandle, tree_cpu_seconds, worker_env

    s = settings.model_copy(update={"topic_prefix": prefix, "group_id": f"{prefix}intake"})
    topics = Topics.with_prefix(prefix)
    await create_topics(s, topics)
    outs = [topics.approved, topics.rejected, topics.approvals, topics.dlq]
    sent_at: dict[bytes, int] = {}
    # The worker runs in its own process, as in production: the load generator and the
    # measuring consumer here do not compete with it for the event loop.
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    key = s.fingerprint_key.get_secret_value() if s.fingerprint_key else os.urandom(16).hex()
    env = worker_env(s.bootstrap_servers, prefix, key, work / "data")
    if s.policy_file is not None:
        env["SLUICE_POLICY_FILE"] = str(s.policy_file)
    else:
        env["SLUICE_POLICY_FILE"] = str(_bench_policy(work))
    env["SLUICE_KAFKA_CLIENT"] = client or s.kafka_client
    worker = WorkerHandle(
        env, work / "worker.log", worker_id=f"bench-{uuid.uuid4().hex[:6]}", processes=processes
    )
    worker.start(60.0 * processes)
    try:
        if not worker.wait_ready(120):
            raise RuntimeError(f"bench worker not ready; see {work / 'worker.log'}")
        # Warm up, then time: the worker is ready once it holds its partitions and has
        # caught up, so the events are published only now (inputs waiting before it was
        # ready would be partly done before the clock starts: /readyz turns ready
        # within ready_max_lag of the end). The warm-up takes the first batch's one-off
        # costs (lazy loading, cold pattern caches) out of the figures.
        warm = [
            (e["run_id"].encode(), default_codec().encode("WorkflowEvent", e))
            for e in make_events(WARMUP_EVENTS, seed=7, now_ms=time.time_ns() // 1_000_000)
        ]
        await _produce(s, topics.events, warm)
        await _count_outputs(s, outs, len(warm), timeout=120.0)
        pid = worker.pid or 0
        cpu0 = tree_cpu_seconds(pid)
        t0 = time.perf_counter()
        if rate is None:
            producer_task = asyncio.create_task(
                _produce(s, topics.events, payloads, on_progress=on_progress)
            )
        else:
            codec = default_codec()
            for _, value in payloads:
                eid = codec.decode("WorkflowEvent", value)["event_id"].encode()
                sent_at[eid] = 0
            producer_task = asyncio.create_task(
                _produce_stamped(s, topics.events, payloads, rate, sent_at)
            )
        last = await _count_outputs(
            s,
            outs,
            len(warm) + n,
            timeout=max(120.0, n / 500) + (n / rate if rate else 0.0),
            latencies=latencies,
            sent_at=sent_at if rate is not None else None,
        )
        await producer_task
        if cpu is not None:
            cpu.append(tree_cpu_seconds(pid) - cpu0)
        return n / (last - t0)
    finally:
        worker.stop()


async def _produce_stamped(
    settings: Settings,
    topic: str,
    payloads: list[tuple[bytes, bytes]],
    rate: float,
    sent_at: dict[bytes, int],
) -> None:
    codec = default_codec()
    ids = [codec.decode("WorkflowEvent", v)["event_id"].encode() for _, v in payloads]
    producer = make_producer(settings, linger_ms=1)
    await producer.start()
    try:
        t0 = time.perf_counter()
        futs = []
        for i, (key, value) in enumerate(payloads):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[ids[i]] = time.time_ns() // 1_000_000
            futs.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def run_bench(
    settings: Settings,
    n: int = 50_000,
    *,
    latency_events: int | None = None,
    held_share: float = 0.05,
    partitions: int = 4,
    on_progress: Callable[[int], None] | None = None,
    clients: Sequence[str] = (),
    processes: int = 1,
) -> dict[str, Any]:
    """Run the whole benchmark; returns the figures. ``on_progress(k)``: k more events
    were produced (a progress display). ``clients``: the worker's Kafka clients to
    measure in this run (``SLUICE_KAFKA_CLIENT``; none: the one in settings); the top
    level figures are the first one's, ``by_client`` has each one's. ``processes``:
    the worker runs as ``sluice run --processes N``."""
    codec = default_codec()
    run = uuid.uuid4().hex[:8]
    s = settings.model_copy(update={"partitions": partitions})
    now = time.time_ns() // 1_000_000
    events = make_events(n, held_share=held_share, seed=1, now_ms=now)
    payloads = [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events]
    size = statistics.mean(len(p[1]) for p in payloads)

    try:
        return await _run_bench(
            s,
            run,
            n,
            payloads,
            size,
            held_share,
            partitions,
            latency_events,
            codec,
            on_progress,
            list(clients) or [s.kafka_client],
            processes,
        )
    finally:
        # Leave no bench topics behind on the cluster.
        await delete_topics_with_prefix(s, f"bench-{run}-")


async def _run_bench(
    s: Settings,
    run: str,
    n: int,
    payloads: list[tuple[bytes, bytes]],
    size: float,
    held_share: float,
    partitions: int,
    latency_events: int | None,
    codec: Any,
    on_progress: Callable[[int], None] | None = None,
    clients: Sequence[str] = ("aiokafka",),
    processes: int = 1,
) -> dict[str, Any]:
    raw_prefix = f"bench-{run}-raw."
    raw_topics = Topics.with_prefix(raw_prefix)
    await create_topics(
        s, raw_topics, names=[raw_topics.events, raw_topics.approved, raw_topics.rejected]
    )
    await _produce(s, raw_topics.events, payloads, on_progress=on_progress)
    passthrough = await _passthrough(s, raw_topics.events, raw_topics.approved, n)
    txn_passthrough = await _txn_passthrough(s, raw_topics.events, raw_topics.rejected, n)

    m = latency_events or min(n, 20_000)
    lat_events = make_events(m, held_share=0.0, seed=2, now_ms=time.time_ns() // 1_000_000)
    lat_payloads = [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in lat_events]
    # What most deployments see: a steady 100 events/s (15 s of it at most).
    m100 = min(m, 1500)
    by_client: dict[str, dict[str, Any]] = {}
    for i, client in enumerate(clients):
        tag = f"{run}-{i}"
        pipeline = await _pipeline(
            s, f"bench-{tag}-pipe.", payloads, n, None, None, on_progress, client, processes
        )
        latencies: list[float] = []
        rate = pipeline / 2
        await _pipeline(
            s, f"bench-{tag}-lat.", lat_payloads, m, rate, latencies, None, client, processes
        )
        latencies.sort()
        lat100: list[float] = []
        await _pipeline(
            s,
            f"bench-{tag}-l100.",
            lat_payloads[:m100],
            m100,
            100.0,
            lat100,
            None,
            client,
            processes,
        )
        lat100.sort()
        by_client[client] = {
            "pipeline_eps": round(pipeline),
            # Four significant digits: a ratio near 0.01 rounded to 3 decimals is 5 % off.
            "ratio": float(f"{pipeline / passthrough:.4g}"),
            "txn_ratio": float(f"{pipeline / txn_passthrough:.4g}"),
            "latency_rate_eps": round(rate),
            "p50_ms": _pct(0.50, latencies),
            "p99_ms": _pct(0.99, latencies),
            "max_ms": float(latencies[-1]) if latencies else float("nan"),
            "p50_100_ms": _pct(0.50, lat100),
            "p99_100_ms": _pct(0.99, lat100),
        }

    from sluice.tools.bench.gate import run_gate_bench
    from sluice.tools.bench.stages import measure_stages

    gate = await run_gate_bench(s, n=min(500, n), prefix=f"bench-{run}-gate.")
    stages = await asyncio.to_thread(measure_stages, s, min(n, 5000))
    return {
        "events": n,
        "event_bytes_mean": round(size, 1),
        "held_share": held_share,
        "partitions": partitions,
        "processes": processes,
        "passthrough_eps": round(passthrough),
        "txn_passthrough_eps": round(txn_passthrough),
        "client": clients[0],
        **by_client[clients[0]],
        "latency_events": m,
        "latency_100_events": m100,
        **gate,
        "stages": stages,
        **({"by_client": by_client} if len(by_client) > 1 else {}),
    }


def _pct(q: float, values: list[float]) -> float:
    return float(values[min(len(values) - 1, int(q * len(values)))]) if values else float("nan")
