"""A real ``sluice run`` worker's audit chains verify, against its committed heads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from sluice.audit.keys import write_key_pair
from sluice.cli.main import main
from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
from tests.helpers import WorkerProcess, produce, settings_from_env, topics_for, wait_for_count

pytestmark = pytest.mark.integration


def test_worker_chains_verify(
    sluice_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "audit.key"
    signer = write_key_pair(key)
    env = {**sluice_env, "SLUICE_AUDIT_KEY_FILE": str(key), "SLUICE_CHECKPOINT_EVERY": "7"}
    settings = settings_from_env(sluice_env)
    topics = topics_for(sluice_env)
    codec = default_codec()
    events = make_events(80, held_share=0.2, seed=3, now_ms=time.time_ns() // 1_000_000)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        asyncio.run(
            produce(
                settings,
                topics.events,
                [(e["run_id"].encode(), codec.encode("WorkflowEvent", e)) for e in events],
            )
        )
        asyncio.run(
            wait_for_count(
                settings, [topics.approved, topics.rejected, topics.approvals], len(events)
            )
        )
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]

    capsys.readouterr()
    # Public key from the service key file (SLUICE_AUDIT_KEY_FILE), committed heads on.
    monkeypatch.setenv("SLUICE_AUDIT_KEY_FILE", str(key))
    code = main(["audit", "verify", "--json"])
    report = orjson.loads(capsys.readouterr().out)
    assert code == 0, report["breaks"]
    assert report["key_ids"] == [signer.key_id]
    assert report["records"] >= len(events)
    assert report["checkpoints"] >= 1 and report["signatures_checked"]
    # Every chain the workers committed a head for is checked, and matches.
    assert report["committed_heads"], "the worker stores chain heads in its offsets"
    for chain, head in report["committed_heads"].items():
        assert report["chains"][chain]["head"]["seq"] >= head["seq"]
