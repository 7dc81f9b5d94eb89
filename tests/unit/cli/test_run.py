"""``sluice run`` refuses a bad reviewers registry before it reaches Kafka: exit 2, one
line, no key material."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from sluice.gate.signatures import public_key_to_b64
from tests.unit.gate.test_reviewers import ALICE_NEW, _reviewer


def test_sluice_run_refuses_a_colliding_registry_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.yaml"
    path.write_text(
        yaml.safe_dump(
            {"reviewers": [_reviewer("alice", ALICE_NEW), _reviewer("alice-admin", ALICE_NEW)]}
        )
    )
    env = {
        **os.environ,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "SLUICE_FINGERPRINT_KEY": "test-fingerprint-key",
        "SLUICE_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never reached: refused before Kafka
    }
    proc = subprocess.run(
        [sys.executable, "-m", "sluice", "run", "--reviewers", str(path), "--metrics-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sluice: error: {path}: one public key is listed as 'alice' key")
    assert public_key_to_b64(ALICE_NEW.public_key()) not in proc.stderr + proc.stdout
