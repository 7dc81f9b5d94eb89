"""Fault injection against a real Kafka: crash loops, soak runs, and the accounting that
checks SPEC §1's conservation invariant by counting records downstream.

The pieces are shared by ``tests/reliability`` (short forms, in CI) and ``sluice chaos``
(longer runs by hand). Everything here talks to a real broker and real ``sluice run``
worker processes; nothing is mocked. Test reviewers' keys are generated per run and live
only in memory and in the run's temporary registry file (public halves only).

Accounting (:func:`account`) is pure: it takes the event ids that were published and the
records found in approved, rejected, dlq and approvals, and names every violation:
an event in no bucket (lost), released twice, held twice, or in the DLQ and elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sluice.codec import default_codec
from sluice.settings import Settings, load_settings
from sluice.topics import Topics

__all__ = [
    "CHAOS_POLICY",
    "Accounting",
    "CrashReport",
    "DecisionBot",
    "Scenario",
    "Snapshot",
    "SoakReport",
    "WorkerHandle",
    "account",
    "crash_run",
    "group_lag",
    "pace",
    "prepare",
    "rss_kb",
    "settle",
    "snapshot",
    "soak",
]

log = logging.getLogger(__name__)

#: The policy chaos runs use: long holds that reviewers decide, short holds that expire,
#: a deny rule, and allow for the rest. ``{short_ttl}`` is filled in by :func:`prepare`.
#: (A matching deny wins over holds, so the deny leaves code publications and confidential
#: events, which the other rules hold, alone.)
CHAOS_POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {{roles: [release-manager], approvals: 1, ttl: 1h, on_expiry: reject}}
  - name: confidential-short
    when: event.data_classification == "CONFIDENTIAL"
    hold: {{roles: [security], approvals: 1, ttl: {short_ttl}s, on_expiry: reject}}
  - name: deny-step-13
    when: >-
      event.step == "step-13" && event.kind != "CODE_PUBLISH"
      && event.data_classification != "CONFIDENTIAL"
    deny: {{reason: "step 13 is not allowed"}}
default:
  allow: {{}}
"""

#: reviewer id → roles of the generated registry.
REVIEWERS: dict[str, list[str]] = {
    "rm1": ["release-manager"],
    "rm2": ["release-manager"],
    "sec": ["security"],
    "mallory": ["finance"],
}


# -- scenario ------------------------------------------------------------------------


@dataclass
class Scenario:
    """One chaos run's environment: topics, generated reviewer keys, policy and registry."""

    env: dict[str, str]
    settings: Settings
    topics: Topics
    workdir: Path
    keys: dict[str, Any]  # reviewer id → Ed25519PrivateKey (in memory only)

    def decision(
        self,
        held: dict[str, Any],
        reviewer: str,
        verdict: str = "APPROVE",
        *,
        reason: str = "",
        signer: str | None = None,
        decision_id: str | None = None,
        content_hash: str | None = None,
    ) -> bytes:
        """A signed, encoded Decision for ``held`` (``signer`` other than ``reviewer`` forges)."""
        from sluice.gate.signatures import build_decision, sign_decision

        d = build_decision(
            event_id=held["event_id"],
            verdict=verdict,
            reviewer_id=reviewer,
            key_id=f"{reviewer}-k1",
            content_hash=content_hash or held["content_hash"],
            reason=reason,
            decision_id=decision_id,
        )
        d["signature"] = sign_decision(d, self.keys[signer or reviewer])
        return default_codec().encode("Decision", d)


def prepare(
    base_env: dict[str, str],
    workdir: Path,
    *,
    short_ttl_s: int = 4,
    policy: str | None = None,
    reviewers: dict[str, list[str]] | None = None,
) -> Scenario:
    """Write the policy and a freshly keyed reviewers registry under ``workdir``.

    ``base_env`` must hold SLUICE_BOOTSTRAP_SERVERS and SLUICE_TOPIC_PREFIX (and group
    ids / data dir as the caller wants). Returns the scenario with the full worker env.
    """
    import yaml
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    workdir.mkdir(parents=True, exist_ok=True)
    roles = reviewers or REVIEWERS
    keys = {rid: Ed25519PrivateKey.generate() for rid in roles}
    registry = {
        "reviewers": [
            {
                "id": rid,
                "roles": r,
                "keys": [
                    {
                        "id": f"{rid}-k1",
                        "public_key": base64.b64encode(
                            keys[rid].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                        ).decode(),
                        "revoked": False,
                    }
                ],
            }
            for rid, r in roles.items()
        ]
    }
    (workdir / "reviewers.yaml").write_text(yaml.safe_dump(registry))
    (workdir / "policy.yaml").write_text(policy or CHAOS_POLICY.format(short_ttl=short_ttl_s))
    env = {
        **base_env,
        "SLUICE_REVIEWERS_FILE": str(workdir / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(workdir / "policy.yaml"),
    }
    env.setdefault("SLUICE_DATA_DIR", str(workdir / "data"))
    settings = load_settings(
        bootstrap_servers=env["SLUICE_BOOTSTRAP_SERVERS"],
        topic_prefix=env.get("SLUICE_TOPIC_PREFIX", ""),
    )
    return Scenario(env, settings, Topics.with_prefix(settings.topic_prefix), workdir, keys)


# -- worker process ------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in kB (Linux ``/proc/<pid>/status``); 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


class WorkerHandle:
    """``python -m sluice run`` as a child process.

    Args:
        env: SLUICE_* variables for the worker (merged over this process's environment).
        log_path: the worker's stdout/stderr (appended across restarts).
        worker_id: SLUICE_WORKER_ID; workers alive at the same time need distinct ids,
            a restarted worker should reuse its id (its producer then fences the dead one).
    """

    def __init__(self, env: dict[str, str], log_path: Path, *, worker_id: str = "w0") -> None:
        self.env = {
            **os.environ,
            "SLUICE_METRICS_PORT": "0",
            "SLUICE_LOG_LEVEL": "INFO",
            **env,
            "SLUICE_WORKER_ID": worker_id,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port: int | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The running process id, or None."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 60.0) -> None:
        """Launch and wait until the metrics port is announced in the log.

        Raises:
            RuntimeError: the worker exited or did not come up within ``timeout``.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out: IO[bytes] = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice", "run"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode("utf-8", "replace")
            m = re.search(r'"metrics_port": ?(\d+)', text)
            if m:
                self.metrics_port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}: {text[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("worker did not start in time")

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Poll /readyz until the worker holds its partitions; False on timeout."""
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                url = f"http://127.0.0.1:{self.metrics_port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return True
            except Exception:  # not yet (503) or not listening yet
                log.debug("not ready yet")
            time.sleep(0.2)
        return False

    def metrics_text(self) -> str:
        """The worker's /metrics page."""
        import urllib.request

        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of samples of ``name`` whose labels include ``labels`` (0 if none)."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric = head.split("{", 1)[0]
            if metric != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def kill(self) -> None:
        """SIGKILL (a crash: no cleanup, open transaction left behind)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


# -- producing -----------------------------------------------------------------------


def encode_events(events: Iterable[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs as upstream publishes them (key: run_id)."""
    codec = default_codec()
    return [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events]


async def pace(
    settings: Settings,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes | None]],
    rate: float,
    *,
    partition: int | None = None,
) -> float:
    """Publish ``items`` at about ``rate`` records/s; returns the seconds it took.

    Every send is awaited before returning (acks=all, idempotent producer).
    """
    from sluice.kafka_io import make_producer

    producer = make_producer(settings)
    await producer.start()
    t0 = time.monotonic()
    try:
        futs = []
        tick = 0.05
        per_tick = max(1, int(rate * tick))
        for i in range(0, len(items), per_tick):
            for key, value in items[i : i + per_tick]:
                futs.append(await producer.send(topic, value, key=key, partition=partition))
            due = t0 + (i + per_tick) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.monotonic() - t0


# -- decisions -----------------------------------------------------------------------


class DecisionBot:
    """Plays the reviewers: tails the approvals topic and decides CODE_PUBLISH holds.

    About ``approve_share`` are approved (by rm1), the rest rejected (by rm2, with a
    reason); ``duplicate_share`` of the decisions are sent twice (a redelivery the gate
    must refuse as a replay, never count twice). ``sent`` maps event_id → (verdict,
    send time ms) of the first copy.
    """

    def __init__(
        self,
        scn: Scenario,
        *,
        approve_share: float = 0.7,
        duplicate_share: float = 0.3,
        seed: int = 0,
        kinds: tuple[str, ...] = ("CODE_PUBLISH",),
    ) -> None:
        self.scn = scn
        self.approve_share = approve_share
        self.duplicate_share = duplicate_share
        self.kinds = kinds
        self.rng = random.Random(seed)  # noqa: S311 - test traffic, not crypto
        self.sent: dict[str, tuple[str, int]] = {}
        self.copies = 0
        self.errors = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Decide every matching held event seen until ``stop`` is set."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from sluice.kafka_io import make_producer

        codec = default_codec()
        s = self.scn.settings
        consumer = AIOKafkaConsumer(
            **s.kafka_kwargs(),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        producer = make_producer(s)
        await consumer.start()
        await producer.start()
        try:
            parts = consumer.partitions_for_topic(self.scn.topics.approvals) or set()
            if not parts:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
                parts = consumer.partitions_for_topic(self.scn.topics.approvals) or set()
            consumer.assign([TopicPartition(self.scn.topics.approvals, p) for p in parts])
            while not stop.is_set():
                try:
                    batch = await consumer.getmany(timeout_ms=200, max_records=500)
                except Exception as exc:  # broker restarts: keep deciding afterwards
                    self.errors += 1
                    log.warning("decision bot fetch failed", extra={"error": type(exc).__name__})
                    await asyncio.sleep(0.5)
                    continue
                for recs in batch.values():
                    for rec in recs:
                        held = codec.decode("HeldEvent", rec.value)
                        if held["kind"] in self.kinds and held["event_id"] not in self.sent:
                            await self._decide(producer, held)
        finally:
            await producer.stop()
            await consumer.stop()

    async def _decide(self, producer: Any, held: dict[str, Any]) -> None:
        approve = self.rng.random() < self.approve_share
        if approve:
            value = self.scn.decision(held, "rm1")
        else:
            value = self.scn.decision(held, "rm2", "REJECT", reason="not this one")
        key = held["event_id"].encode()
        copies = 2 if self.rng.random() < self.duplicate_share else 1
        self.sent[held["event_id"]] = (
            "APPROVE" if approve else "REJECT",
            time.time_ns() // 1_000_000,
        )
        for _ in range(copies):
            await (await producer.send(self.scn.topics.decisions, value, key=key))
            self.copies += 1


# -- accounting ----------------------------------------------------------------------


@dataclass
class Snapshot:
    """What the output topics hold, reduced to what accounting needs."""

    #: (event_id, source) per record of approved / rejected, in topic order.
    approved: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: event_id per HeldEvent record on approvals.
    held: list[str] = field(default_factory=list)
    #: event_id (None when not salvageable) and error code per DLQ record.
    dlq: list[tuple[str | None, str]] = field(default_factory=list)
    #: decided_at of each approved/rejected record by event_id (latency figures).
    decided_at: dict[str, int] = field(default_factory=dict)


async def snapshot(settings: Settings, topics: Topics) -> Snapshot:
    """Read approved, rejected, approvals and dlq from the beginning (read_committed)."""
    from sluice.kafka_io import read_topic

    codec = default_codec()
    snap = Snapshot()
    for topic, bucket in ((topics.approved, snap.approved), (topics.rejected, snap.rejected)):
        async for rec in read_topic(settings, topic):
            o = codec.decode("Outcome", rec.value)
            bucket.append((o["event_id"], o["source"]))
            snap.decided_at[o["event_id"]] = o["decided_at"]
    async for rec in read_topic(settings, topics.approvals):
        snap.held.append(codec.decode("HeldEvent", rec.value)["event_id"])
    async for rec in read_topic(settings, topics.dlq):
        d = codec.decode("DeadLetter", rec.value)
        snap.dlq.append((d.get("event_id"), d["error_code"]))
    return snap


@dataclass
class Accounting:
    """Where every published event ended, and every violation of the invariant."""

    sent: int
    approved: int
    rejected: int
    dlq: int
    still_held: int
    released_from_hold: int
    #: published ids found in no bucket
    lost: list[str]
    #: ids with more than one record in approved or rejected
    released_twice: list[str]
    #: ids held more than once on the approvals topic
    held_twice: list[str]
    #: ids both in the DLQ and in another bucket
    dlq_and_elsewhere: list[str]
    #: ids in an output that were never published
    unknown: list[str]

    @property
    def ok(self) -> bool:
        """True when the conservation invariant holds."""
        return not (
            self.lost
            or self.released_twice
            or self.held_twice
            or self.dlq_and_elsewhere
            or self.unknown
        )

    @property
    def accounted(self) -> int:
        """Published events found in exactly one final bucket."""
        return self.sent - len(self.lost)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, lists shortened to counts plus the first few ids."""
        out = asdict(self)
        for k in ("lost", "released_twice", "held_twice", "dlq_and_elsewhere", "unknown"):
            out[k] = {"count": len(out[k]), "first": out[k][:5]}
        out["ok"] = self.ok
        out["accounted"] = self.accounted
        return out


def account(sent_ids: Iterable[str], snap: Snapshot) -> Accounting:
    """Check SPEC §1 for the published ``sent_ids`` against ``snap`` (pure)."""
    sent = set(sent_ids)
    released = Counter(eid for eid, _ in snap.approved) + Counter(eid for eid, _ in snap.rejected)
    held = Counter(snap.held)
    dlq_ids = {eid for eid, _ in snap.dlq if eid is not None}
    approved_ids = {eid for eid, _ in snap.approved}
    rejected_ids = {eid for eid, _ in snap.rejected}
    still_held = set(held) - set(released)
    buckets = set(released) | set(held) | dlq_ids
    return Accounting(
        sent=len(sent),
        approved=len(approved_ids & sent),
        rejected=len(rejected_ids & sent),
        dlq=len(dlq_ids & sent),
        still_held=len(still_held & sent),
        released_from_hold=len((set(held) & set(released)) & sent),
        lost=sorted(sent - buckets),
        released_twice=sorted(eid for eid, n in released.items() if n > 1),
        held_twice=sorted(eid for eid, n in held.items() if n > 1),
        dlq_and_elsewhere=sorted(dlq_ids & (set(released) | set(held))),
        unknown=sorted(buckets - sent),
    )


async def settle(
    scn: Scenario,
    sent_ids: Iterable[str],
    *,
    must_release: Iterable[str] = (),
    within_s: float = 60.0,
    quiet: float = 2.0,
) -> tuple[Accounting, Snapshot]:
    """Poll until every published id is accounted and ``must_release`` ids are released,
    then wait ``quiet`` seconds more (late duplicates would show) and account again.

    Returns the final accounting (which may still show violations: the caller asserts).
    """
    sent = list(sent_ids)
    want = set(must_release)
    deadline = time.monotonic() + within_s
    while True:
        snap = await snapshot(scn.settings, scn.topics)
        acc = account(sent, snap)
        released = {eid for eid, _ in snap.approved} | {eid for eid, _ in snap.rejected}
        if (not acc.lost and want <= released) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(quiet)
    snap = await snapshot(scn.settings, scn.topics)
    return account(sent, snap), snap


async def group_lag(settings: Settings, group_id: str, topics: Iterable[str]) -> int:
    """Records of ``topics`` not yet committed by ``group_id`` (end offset - committed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    consumer = AIOKafkaConsumer(
        **settings.kafka_kwargs(), group_id=None, isolation_level="read_committed"
    )
    await admin.start()
    await consumer.start()
    try:
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if parts is None:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
                parts = consumer.partitions_for_topic(t) or set()
            tps += [TopicPartition(t, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        lag = 0
        for tp in tps:
            om = committed.get(tp)
            done = om.offset if om is not None and om.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


# -- scenarios -----------------------------------------------------------------------


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
    from sluice.bench.events import make_events

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
) -> SoakReport:
    """Publish at a steady ``rate`` for ``duration_s`` against one worker; sample its RSS.

    RSS growth is measured from the end of warm-up (default: 10 % of the run, at least
    5 s) to the end. After publishing stops the worker drains; lag must return to 0.
    """
    from sluice.bench.events import make_events

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
