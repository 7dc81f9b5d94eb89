"""The long runs: a crash loop (SIGKILL the worker with decisions in flight, then
account) and a soak (steady load, resident memory and lag over time)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.tools.chaos.accounting import Snapshot, account, group_lag, settle, snapshot
from sluice.tools.chaos.load import DecisionBot, encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle, rss_kb
from sluice.tools.chaos.scenario import Scenario

__all__ = ["CrashReport", "SoakReport", "crash_run", "soak"]


@dataclass
class CrashReport:
    """Result of :func:`crash_run`."""

    events: int
    poison: int
    kills: int
    kill_times_s: list[float]
    #: events found in a final bucket (or held) at each kill, of those published by then
    accounted_at_kill: list[int]
    decisions_sent: int
    decision_copies: int
    seconds: float
    accounting: dict[str, Any]
    must_release_missing: int


async def crash_run(
    scn: Scenario,
    *,
    events: int = 3000,
    held_share: float = 0.05,
    poison_every: int = 200,
    kills: int = 3,
    rate: float = 250.0,
    seed: int = 1,
    log_path: Path | None = None,
) -> CrashReport:
    """Publish ``events`` at ``rate``/s with decisions in flight; SIGKILL the worker
    ``kills`` times at random points (restarting it each time); then account.

    Returns the report; ``report.accounting["ok"]`` says whether SPEC §1 held.
    """
    from sluice.tools.bench.events import make_events

    rng = random.Random(seed)  # noqa: S311 - fault schedule, not crypto
    now = time.time_ns() // 1_000_000
    evs = make_events(events, held_share=held_share, seed=seed, now_ms=now)
    items: list[tuple[bytes | None, bytes]] = list(encode_events(evs))
    n_poison = 0
    if poison_every:
        for i in range(poison_every, len(items), poison_every + 1):
            items.insert(i, (b"poison", b"\x00garbage-" + uuid.uuid4().bytes))
            n_poison += 1
    worker = WorkerHandle(scn.env, log_path or scn.workdir / "worker.log", worker_id="crash-w0")
    bot = DecisionBot(scn, seed=seed)
    stop = asyncio.Event()
    t0 = time.monotonic()
    worker.start()
    bot_task = asyncio.create_task(bot.run(stop))
    kill_times: list[float] = []
    at_kill: list[int] = []
    all_ids = [e["event_id"] for e in evs]

    def sent_so_far() -> list[str]:
        # Roughly what was published by now (accounting "at the kill", for the report).
        done = min(len(all_ids), int((time.monotonic() - t_pub) * rate))
        return all_ids[:done]

    t_pub = time.monotonic()
    try:
        producing = asyncio.create_task(pace(scn.settings, scn.topics.events, items, rate))
        for _ in range(kills):
            # A random point of live processing: wait until the worker holds its
            # partitions again (after a crash the group first waits out the dead
            # member's session), then kill it mid-batch, mid-transaction or mid-timer.
            await asyncio.to_thread(worker.wait_ready, 60.0)
            await asyncio.sleep(rng.uniform(0.3, 3.0))
            worker.kill()
            kill_times.append(round(time.monotonic() - t0, 2))
            snap = await snapshot(scn.settings, scn.topics)
            at_kill.append(account(sent_so_far(), snap).accounted)
            await asyncio.to_thread(worker.start)
        await producing
        code_publish = {e["event_id"] for e in evs if e["kind"] == "CODE_PUBLISH"}
        # Short holds (confidential data) must expire, each exactly once.
        expiring = {
            e["event_id"]
            for e in evs
            if e["kind"] != "CODE_PUBLISH" and e["data_classification"] == "CONFIDENTIAL"
        }
        # Wait until the bot has decided every reviewer-decided hold it can see.
        sent_ids = [e["event_id"] for e in evs]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            snap = await snapshot(scn.settings, scn.topics)
            if code_publish <= set(bot.sent) | _dlq_ids(snap) and not account(sent_ids, snap).lost:
                break
            await asyncio.sleep(1.0)
        must = set(bot.sent) | expiring
        acc, snap = await settle(scn, sent_ids, must_release=must, within_s=60)
        released = {eid for eid, _ in snap.approved} | {eid for eid, _ in snap.rejected}
        missing = len(must - released)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await bot_task
        worker.stop()
    return CrashReport(
        events=events,
        poison=n_poison,
        kills=kills,
        kill_times_s=kill_times,
        accounted_at_kill=at_kill,
        decisions_sent=len(bot.sent),
        decision_copies=bot.copies,
        seconds=round(time.monotonic() - t0, 1),
        accounting=acc.as_dict(),
        must_release_missing=missing,
    )


def _dlq_ids(snap: Snapshot) -> set[str]:
    return {eid for eid, _ in snap.dlq if eid is not None}


@dataclass
class SoakReport:
    """Result of :func:`soak`."""

    duration_s: float
    rate: float
    sent: int
    accounted: int
    lost: int
    released_twice: int
    #: RSS after warm-up and at the end, kB
    rss_start_kb: int
    rss_end_kb: int
    rss_peak_kb: int
    rss_growth_pct: float
    #: intake group lag when publishing stopped, and after draining
    lag_at_stop: int
    lag_end: int
    samples: list[tuple[float, int]]


async def soak(
    scn: Scenario,
    *,
    duration_s: float = 600.0,
    rate: float = 1000.0,
    held_share: float = 0.05,
    warmup_s: float | None = None,
    log_path: Path | None = None,
    seed: int = 7,
    on_progress: Callable[[int], None] | None = None,
) -> SoakReport:
    """Publish at a steady ``rate`` for ``duration_s`` against one worker; sample its RSS.

    RSS growth is measured from the end of warm-up (default: 10 % of the run, at least
    5 s) to the end. After publishing stops the worker drains; lag must return to 0.
    ``on_progress(k)``: k more events were published (a progress display).
    """
    from sluice.tools.bench.events import make_events

    warm = warmup_s if warmup_s is not None else max(5.0, duration_s * 0.1)
    worker = WorkerHandle(scn.env, log_path or scn.workdir / "soak-worker.log", worker_id="soak-w0")
    worker.start()
    samples: list[tuple[float, int]] = []
    sent: list[str] = []
    t0 = time.monotonic()
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            pid = worker.pid
            if pid is not None:
                samples.append((round(time.monotonic() - t0, 1), rss_kb(pid)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    sampler = asyncio.create_task(sample())
    try:
        chunk_s = 5.0
        i = 0
        while time.monotonic() - t0 < duration_s:
            n = int(rate * min(chunk_s, duration_s - (time.monotonic() - t0)))
            if n <= 0:
                break
            evs = make_events(
                n, held_share=held_share, seed=seed + i, now_ms=time.time_ns() // 1_000_000
            )
            i += 1
            sent += [e["event_id"] for e in evs]
            await pace(scn.settings, scn.topics.events, encode_events(evs), rate)
            if on_progress is not None:
                on_progress(len(evs))
        lag_at_stop = await group_lag(
            scn.settings, scn.env.get("SLUICE_GROUP_ID", scn.settings.group_id), [scn.topics.events]
        )
        acc, _ = await settle(scn, sent, within_s=60)
        lag_end = await group_lag(
            scn.settings, scn.env.get("SLUICE_GROUP_ID", scn.settings.group_id), [scn.topics.events]
        )
    finally:
        stop.set()
        await sampler
        worker.stop()
    after = [kb for t, kb in samples if t >= warm and kb] or [kb for _, kb in samples if kb] or [0]
    start_kb, end_kb = after[0], after[-1]
    growth = (end_kb - start_kb) * 100.0 / start_kb if start_kb else 0.0
    return SoakReport(
        duration_s=round(time.monotonic() - t0, 1),
        rate=rate,
        sent=len(sent),
        accounted=acc.accounted,
        lost=len(acc.lost),
        released_twice=len(acc.released_twice),
        rss_start_kb=start_kb,
        rss_end_kb=end_kb,
        rss_peak_kb=max(after),
        rss_growth_pct=round(growth, 2),
        lag_at_stop=lag_at_stop,
        lag_end=lag_end,
        samples=samples,
    )
