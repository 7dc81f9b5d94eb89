"""``sluice.review`` against the real Kafka and a running gate worker: ``wait=True``
returns the release after a 2-of-2 quorum, a self-approval returns the gate's refusal
reason, and ``sluice review approve --wait`` prints the outcome."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import yaml

from sluice import review
from sluice.cli.main import main
from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
from tests.helpers import WorkerProcess, produce, settings_from_env, topics_for, wait_for_count

pytestmark = pytest.mark.integration

POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, ttl: 1h, on_expiry: reject}
default:
  allow: {}
"""


def test_wait_returns_release_and_refusal(
    sluice_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Keys from `sluice keys new`; "dave" is the events' on_behalf_of (self-approval).
    entries = []
    for name in ("carol", "erin", "dave", "frank"):
        code = main(
            [
                "keys", "new", "--reviewer", name, "--out", str(tmp_path / f"{name}.key"),
                "--role", "release-manager",
            ]
        )  # fmt: skip
        assert code == 0
        entries += yaml.safe_load(capsys.readouterr().out)
    (tmp_path / "reviewers.yaml").write_text(yaml.safe_dump({"reviewers": entries}))
    (tmp_path / "policy.yaml").write_text(POLICY)
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(tmp_path / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = settings_from_env(env)
    topics = topics_for(env)
    codec = default_codec()
    events = make_events(2, held_share=0.0, seed=5, now_ms=time.time_ns() // 1_000_000)
    for ev in events:
        ev.update(kind="CODE_PUBLISH", data_classification="INTERNAL", on_behalf_of="dave")
        ev["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
    first, second = (e["event_id"] for e in events)

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
        got = asyncio.run(wait_for_count(settings, [topics.approvals], 2))
        assert len(got[topics.approvals]) == 2
        queue = review.list(settings=settings, timeout_s=20)
        assert {e["event_id"] for e in queue.entries} == {first, second}
        assert not queue.partial

        # Self-approval: published, and refused by the gate with its reason.
        own = review.approve(first, key=tmp_path / "dave.key", wait=True, timeout_s=60)
        assert own.status == "refused" and own.refusal == "self_approval", own

        # 2-of-2: the first vote counts and waits; the second returns the release.
        one = review.approve(first, key=tmp_path / "carol.key", wait=True, timeout_s=5)
        assert one.status == "pending" and one.counted, one
        two = review.approve(first, key=tmp_path / "erin.key", reason="ok", wait=True, timeout_s=60)
        assert two.status == "approved", two
        assert two.outcome is not None and two.outcome["event_id"] == first
        assert sorted(two.outcome["reviewers"]) == ["carol", "erin"]

        # The CLI: the second event, approved by two through `--wait`.
        argv = ["review", "approve", second, "--wait", "--key"]
        assert main([*argv, str(tmp_path / "carol.key"), "--timeout", "5"]) == 3
        assert "pending (counted" in capsys.readouterr().out
        assert main([*argv, str(tmp_path / "frank.key"), "--timeout", "60", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "approved" and out["outcome"]["event_id"] == second
        assert main(["review", "approve", second, "--key", str(tmp_path / "erin.key")]) == 2
        assert "already approved" in capsys.readouterr().err
    finally:
        assert worker.stop() == 0
