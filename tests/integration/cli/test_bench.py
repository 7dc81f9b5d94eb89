"""`sluice bench --json` runs end to end and prints the SPEC's fields (values not judged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_json_last_line(kafka: str) -> None:
    env = {**os.environ, "SLUICE_BOOTSTRAP_SERVERS": kafka}
    proc = subprocess.run(
        [sys.executable, "-m", "sluice", "bench", "--events", "400", "--partitions", "2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("passthrough_eps", "pipeline_eps", "ratio", "p50_ms", "p99_ms", "release_p99_ms"):
        assert key in result
    assert result["passthrough_eps"] > 0 and result["pipeline_eps"] > 0
    assert result["released"] == result["decisions"] > 0
    assert (
        0
        < result["ratio"]
        == pytest.approx(result["pipeline_eps"] / result["passthrough_eps"], rel=0.01)
    )
    assert set(result["stages"]) >= {
        "decode_us",
        "sanitize_us",
        "policy_us",
        "audit_us",
        "policy_mix_us",
    }
    stages = result["stages"]
    for alg in ("hmac", "ed25519"):  # producer authentication, with/without in one run
        assert stages[f"producer_auth_{alg}_us"] > 0
        assert stages[f"producer_auth_{alg}_ratio"] == pytest.approx(
            stages["intake_stage_noauth_us"] / stages[f"intake_stage_auth_{alg}_us"], rel=0.01
        )
