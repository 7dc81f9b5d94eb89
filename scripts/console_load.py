"""Measure the review console with many open holds in a real Kafka (not a CI test: slow).

    python scripts/console_load.py                 # starts its own Kafka (sluice dev broker)
    python scripts/console_load.py --holds 10000 --bootstrap 127.0.0.1:19092

Publishes ``--holds`` HeldEvents to ``workflow.approvals`` (a fresh topic prefix; no
worker needed: the console reads the topic), starts ``sluice console --port 0`` as its
own process, logs in with the printed token and measures, as a browser would see them:

- catch-up: console start → every hold counted on the queue page;
- page load: ``GET /`` (the whole queue page, 500 rows rendered, counts over all) and
  ``GET /queue/fragment`` (what the live update fetches), ``--loads`` times each with
  the queue unchanged, and the first fragment after each change (the view rebuilt);
- queue update latency: one more hold published (``send_and_wait``) → the server-sent
  events stream announces a change (``sse``) → the fragment fetched then shows the new
  row (``visible``), ``--updates`` times; the new holds expire first so they sort on top;
- the console's resident memory after catch-up.

Prints one JSON object; docs/console.md quotes a run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "streams"), str(REPO)]

from sluice.codec import default_codec  # noqa: E402
from sluice.kafka import create_topics, make_producer  # noqa: E402
from sluice.settings import load_settings  # noqa: E402
from sluice.tools.bench.events import make_events  # noqa: E402
from sluice.topics import Topics  # noqa: E402


def _held(event: dict[str, Any], ttl_ms: int, now: int) -> dict[str, Any]:
    raw = default_codec().encode("WorkflowEvent", event)
    return {
        "event_id": event["event_id"],
        "run_id": event["run_id"],
        "workflow_id": event["workflow_id"],
        "kind": event["kind"],
        "actor_id": event["actor"]["id"],
        "on_behalf_of": event.get("on_behalf_of"),
        "trace_id": None,
        "event": raw,
        "content_hash": hashlib.sha256(raw).hexdigest(),
        "findings": [],
        "rule": f"rule-{event['kind'].lower()}",
        "policy_hash": "0" * 64,
        "reason": "load test",
        "risk_score": 0.5,
        "roles": ["security"] if event["run_id"] < "8" else ["release-manager"],
        "approvals": 2,
        "on_expiry": "REJECT",
        "escalate_roles": [],
        "escalate_ttl_ms": 0,
        "received_at": now,
        "held_at": now,
        "expires_at": now + ttl_ms,
    }


def _stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "median_ms": round(statistics.median(xs) * 1000, 1),
        "p95_ms": round(xs[max(0, int(len(xs) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(xs[-1] * 1000, 1),
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


async def _publish(settings: Any, topic: str, helds: list[dict[str, Any]]) -> None:
    codec = default_codec()
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, codec.encode("HeldEvent", h), key=h["event_id"].encode())
            for h in helds
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def measure(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    prefix = f"load{uuid.uuid4().hex[:8]}."
    env = {"SLUICE_BOOTSTRAP_SERVERS": bootstrap, "SLUICE_TOPIC_PREFIX": prefix}
    os.environ.update(env)
    settings = load_settings()
    topics = Topics.with_prefix(prefix)
    await create_topics(settings)
    now = int(time.time() * 1000)
    events = make_events(args.holds, held_share=1.0, seed=11, now_ms=now)
    helds = [_held(e, 3_600_000 + i * 10, now) for i, e in enumerate(events)]
    t0 = time.monotonic()
    await _publish(settings, topics.approvals, helds)
    publish_s = time.monotonic() - t0

    log = Path(tempfile.mkdtemp()) / "console.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before measuring)
            [sys.executable, "-m", "sluice", "console", "--port", "0"],
            env={**os.environ, "PYTHONPATH": f"{REPO / 'streams'}:{REPO}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    try:
        url = ""
        while not url:
            m = re.search(r"sluice console: (http://\S+)", log.read_text(errors="replace"))
            if m:
                url = m.group(1)
            elif proc.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError(log.read_text(errors="replace"))
            else:
                await asyncio.sleep(0.1)
        base = url.split("?")[0].rstrip("/")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            async with s.get(url) as r:
                if r.status != 200:
                    raise RuntimeError(f"login failed: HTTP {r.status}")
            total = -1
            while total != args.holds:
                async with s.get(base + "/queue/fragment") as r:
                    text = await r.text()
                m = re.search(r'data-total="(\d+)"', text)
                total = int(m.group(1)) if m and "still reading" not in text else -1
                if total != args.holds:
                    await asyncio.sleep(0.05)
            catch_up_s = time.monotonic() - started
            rss = _rss_mb(proc.pid)

            async def timed(path: str) -> tuple[float, int]:
                t = time.monotonic()
                async with s.get(base + path) as r:
                    body = await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"GET {path}: HTTP {r.status}")
                return time.monotonic() - t, len(body)

            page = [await timed("/") for _ in range(args.loads)]
            frag = [await timed("/queue/fragment") for _ in range(args.loads)]
            detail = [await timed(f"/event/{helds[i]['event_id']}") for i in range(args.loads)]

            sse_lat, visible_lat, cold = [], [], []
            async with s.get(base + "/events", timeout=aiohttp.ClientTimeout(total=None)) as sse:
                await sse.content.readline()  # the first version line
                await sse.content.readline()
                for i in range(args.updates):
                    event = make_events(1, held_share=1.0, seed=1000 + i)[0]
                    held = _held(event, 60_000, int(time.time() * 1000))
                    t = time.monotonic()
                    await _publish(settings, topics.approvals, [held])
                    while True:  # the next data line announces the change
                        line = await sse.content.readline()
                        if line.startswith(b"data:"):
                            break
                    sse_lat.append(time.monotonic() - t)
                    first = True
                    while True:
                        f0 = time.monotonic()
                        async with s.get(base + "/queue/fragment") as r:
                            text = await r.text()
                        if first:  # the first fetch after a change rebuilds the view
                            cold.append(time.monotonic() - f0)
                            first = False
                        if held["event_id"] in text:
                            break
                        await asyncio.sleep(0.01)
                    visible_lat.append(time.monotonic() - t)
                    await asyncio.sleep(0.5)  # past the stream's 0.2 s coalescing
                    while True:  # drain what is announced already: the next is fresh
                        try:
                            await asyncio.wait_for(sse.content.readline(), 0.05)
                        except TimeoutError:
                            break
        return {
            "holds": args.holds,
            "publish_s": round(publish_s, 2),
            "console_catch_up_s": round(catch_up_s, 2),
            "console_rss_mb": rss,
            "queue_page": {**_stats([x for x, _ in page]), "bytes": page[0][1]},
            "queue_fragment": {**_stats([x for x, _ in frag]), "bytes": frag[0][1]},
            "detail_page": _stats([x for x, _ in detail]),
            "queue_fragment_after_change": _stats(cold),
            "update_sse": _stats(sse_lat),
            "update_visible": _stats(visible_lat),
            "loads": args.loads,
            "updates": args.updates,
        }
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--holds", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--bootstrap", help="An existing Kafka (default: start one).")
    args = parser.parse_args()
    if args.bootstrap:
        result = asyncio.run(measure(args, args.bootstrap))
    else:
        from sluice.tools.dev.broker import KafkaBroker, free_port

        with (
            tempfile.TemporaryDirectory() as data,
            KafkaBroker(free_port(pair=True), Path(data)) as broker,
        ):
            result = asyncio.run(measure(args, broker.bootstrap))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
