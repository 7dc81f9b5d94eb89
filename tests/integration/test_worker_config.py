"""The worker refuses to start on configuration that would break its guarantees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sluice.kafka_io import create_topics
from tests.helpers import settings_from_env, topics_for

pytestmark = pytest.mark.integration


async def test_gate_topics_must_be_co_partitioned(sluice_env: dict[str, str]) -> None:
    settings = settings_from_env(sluice_env)
    await create_topics(settings, names=[topics_for(sluice_env).decisions], partitions=3)
    proc = subprocess.run(
        [sys.executable, "-m", "sluice", "run", "--metrics-port", "0"],
        env={**os.environ, **sluice_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sluice: error: the gate needs co-partitioned topics")
    assert "has 3" in last and "has 2" in last


def test_bad_policy_refuses_to_start(sluice_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules:\n  - name: broken-rule\n    when: event.kind ==\n    allow: {}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sluice", "run", "--policy", str(bad)],
        env={**os.environ, **sluice_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("sluice: error:") and "broken-rule" in lines[-1]
