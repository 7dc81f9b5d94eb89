"""SIGKILL the worker mid-stream, three times: SPEC §1 holds, no release is doubled."""

from __future__ import annotations

import json

import pytest

from sluice.tools.chaos.runs import crash_run
from sluice.tools.chaos.scenario import Scenario
from tests.helpers import run_sluice

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


async def test_sigkill_three_times_mid_stream(scenario: Scenario) -> None:
    report = await crash_run(
        scenario, events=3000, held_share=0.05, poison_every=200, kills=3, rate=75.0, seed=11
    )
    print("\nSIGKILL x3:", json.dumps(report.__dict__, default=str))
    acc = report.accounting
    assert report.kills == 3 and len(report.kill_times_s) == 3
    assert acc["lost"]["count"] == 0, acc
    assert acc["released_twice"]["count"] == 0, acc
    assert acc["held_twice"]["count"] == 0, acc
    assert acc["dlq_and_elsewhere"]["count"] == 0, acc
    assert acc["unknown"]["count"] == 0, acc
    assert acc["accounted"] == 3000
    # Every reviewer-decided hold and every short hold was released (exactly once: above).
    assert report.must_release_missing == 0, report
    assert report.decisions_sent > 0 and report.decision_copies > report.decisions_sent
    assert acc["released_from_hold"] >= report.decisions_sent
    # The audit chains survived three SIGKILLs: every chain continues from its committed
    # head (no gap, no fork), and matches the heads the consumer groups committed.
    verify = run_sluice(scenario.env, "audit", "verify", "--json", timeout=300)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]
