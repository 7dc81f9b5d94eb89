"""Revocation without a restart: a running worker reloads its reviewers registry.

A key revoked in the file (picked up by the file poll, or at once on SIGHUP) refuses
the next vote signed with it as ``revoked_key``; a file that fails its checks keeps the
registry in force; every swap is an audit record on the gate's chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
from sluice.tools.chaos.scenario import Scenario
from tests.helpers import (
    WorkerProcess,
    collect,
    produce,
    reviewers_yaml,
    run_sluice,
    settings_from_env,
    topics_for,
)

pytestmark = pytest.mark.integration

POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, ttl: 1h, on_expiry: reject}
default:
  allow: {}
"""

REVIEWERS = ("carol", "erin", "frank", "gina")


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def wait_until(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


async def test_revoked_key_is_refused_without_restart(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    keys = {rid: Ed25519PrivateKey.generate() for rid in REVIEWERS}
    reg = tmp_path / "reviewers.yaml"
    reg.write_text(reviewers_yaml(keys, set()))
    (tmp_path / "policy.yaml").write_text(POLICY)
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(reg),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
        "SLUICE_REGISTRY_POLL_SECONDS": "0.5",
    }
    settings = settings_from_env(env)
    topics = topics_for(env)
    scn = Scenario(env=env, settings=settings, topics=topics, workdir=tmp_path, keys=keys)
    codec = default_codec()
    events = make_events(2, held_share=0.0, seed=5, now_ms=time.time_ns() // 1_000_000)
    for ev in events:
        ev.update(kind="CODE_PUBLISH", data_classification="INTERNAL")
        ev["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    hashes: list[str] = []
    try:
        assert worker.wait_ready(60)
        await produce(
            settings,
            topics.events,
            [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events],
        )
        held: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while len(held) < 2 and time.monotonic() < deadline:
            held = {r["event_id"]: r for r in await collect(settings, topics.approvals)}
            await asyncio.sleep(0.5)
        h1, h2 = held[events[0]["event_id"]], held[events[1]["event_id"]]

        async def vote(h: dict[str, Any], rid: str) -> None:
            await produce(
                settings, topics.decisions, [(h["event_id"].encode(), scn.decision(h, rid))]
            )

        def reloads(result: str) -> float:
            return worker.metric("sluice_registry_reloads_total", result=result)

        # 1. File change, no signal: erin's key is revoked while the worker runs.
        await vote(h1, "carol")
        text = reviewers_yaml(keys, {"erin"})
        write_atomically(reg, text)
        hashes.append(hashlib.sha256(text.encode()).hexdigest())
        await wait_until(lambda: reloads("ok") == 1)
        await vote(h1, "erin")
        await wait_until(
            lambda: worker.metric("sluice_decisions_refused_total", reason="revoked_key") == 1
        )
        assert not [r for r in await collect(settings, topics.approved)], "erin's vote counted"
        await vote(h1, "frank")

        # 2. A broken file: refused, counted, the registry in force is kept.
        write_atomically(reg, "reviewers:\n  - id: [unclosed\n")
        await wait_until(lambda: reloads("refused") == 1)
        assert worker.pid is not None, "a bad registry file must not stop the worker"
        await vote(h2, "gina")  # still a live key

        # 3. SIGHUP right after writing: frank revoked. A timed poll reads a changed file
        #    only after a second poll saw it unchanged; the signal loads it at once.
        text = reviewers_yaml(keys, {"erin", "frank"})
        write_atomically(reg, text)
        hashes.append(hashlib.sha256(text.encode()).hexdigest())
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGHUP)
        await wait_until(lambda: reloads("ok") == 2)
        await vote(h2, "frank")
        await wait_until(
            lambda: worker.metric("sluice_decisions_refused_total", reason="revoked_key") == 2
        )
        await vote(h2, "carol")

        deadline = time.monotonic() + 30
        approved: list[dict[str, Any]] = []
        while len(approved) < 2 and time.monotonic() < deadline:
            approved = await collect(settings, topics.approved)
            await asyncio.sleep(0.5)
        await wait_until(
            lambda: (
                "registry reload audited" in (tmp_path / "worker.log").read_text()
                and (tmp_path / "worker.log").read_text().count("registry reload audited") == 2
            )
        )
        assert reloads("refused") == 1
    finally:
        assert worker.stop() == 0

    by_id = {r["event_id"]: r for r in approved}
    assert set(by_id) == {h1["event_id"], h2["event_id"]}
    assert sorted(by_id[h1["event_id"]]["reviewers"]) == ["carol", "frank"]
    assert sorted(by_id[h2["event_id"]]["reviewers"]) == ["carol", "gina"]

    audit = await collect(settings, topics.audit)
    reloaded = [r for r in audit if r["transition"] == "registry_reloaded"]
    assert [(r["reason_code"], r["content_hash"]) for r in reloaded] == [
        ("file_changed", hashes[0]),
        ("sighup", hashes[1]),
    ]
    assert reloaded[0]["source"] == "reviewers=4 keys=4 live_keys=3"
    assert reloaded[1]["source"] == "reviewers=4 keys=4 live_keys=2"
    assert all(r["stage"] == "gate" and r["chain"].startswith("gate:") for r in reloaded)
    log_text = (tmp_path / "worker.log").read_text()
    assert "reviewers registry reload refused" in log_text
    # The chains still verify with the control records in them.
    proc = run_sluice(env, "audit", "verify", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
