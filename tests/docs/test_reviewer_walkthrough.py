"""Every shell block of docs/reviewer-guide.md, run as written against a real Kafka.

The blocks are concatenated in order into one ``bash -euo pipefail`` script (so
variables such as ``EVENT_ID`` and ``WORKER`` carry over from block to block) and run in
an empty temporary directory with the venv's ``sluice`` first on PATH, pointed at the
session's Kafka through ``SLUICE_BOOTSTRAP_SERVERS`` and a unique
``SLUICE_TOPIC_PREFIX``. A block whose text contains ``# docs-test: skip`` is left out
(e.g. the one that starts the local broker).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "reviewer-guide.md"
SKIP = "# docs-test: skip"
_BLOCK = re.compile(r"^```(?:bash|sh)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def shell_blocks(text: str) -> list[str]:
    """The ```bash / ```sh blocks of a markdown text, in order."""
    return _BLOCK.findall(text)


def walkthrough_script(text: str) -> tuple[str, int]:
    """The script the test runs, and how many blocks it holds."""
    blocks = [b for b in shell_blocks(text) if SKIP not in b]
    return "\n".join(blocks), len(blocks)


def test_extraction_finds_the_walkthrough() -> None:
    script, count = walkthrough_script(GUIDE.read_text())
    assert count > 5, f"only {count} runnable shell blocks found in {GUIDE.name}"
    for step in ("sluice keys new", "sluice run", "sluice emit", "sluice review approve"):
        assert step in script
    assert "AKIA…" not in script and "EVENT_ID=$(" in script


@pytest.mark.integration
def test_reviewer_walkthrough_runs_as_written(kafka: str, prefix: str, tmp_path: Path) -> None:
    script, _count = walkthrough_script(GUIDE.read_text())
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "SLUICE_BOOTSTRAP_SERVERS": kafka,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "SLUICE_GROUP_ID": f"{prefix}intake",
        "SLUICE_GATE_GROUP_ID": f"{prefix}gate",
        "SLUICE_METRICS_PORT": "0",
        "SLUICE_PARTITIONS": "2",
    }
    for name in ("SLUICE_REVIEWERS_FILE", "SLUICE_PRODUCERS_FILE", "SLUICE_PRODUCER_KEY_FILE"):
        env.pop(name, None)
    work = tmp_path / "walk"
    work.mkdir()
    # Its own process group: if a block fails before the last one stops the background
    # worker, the worker is stopped here with the shell.
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=480)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    out = stdout
    assert proc.returncode == 0, (
        f"walkthrough exited {proc.returncode}\n--- stdout\n{out[-4000:]}\n"
        f"--- stderr\n{stderr[-4000:]}\n--- worker.log\n"
        + ((work / "worker.log").read_text()[-3000:] if (work / "worker.log").exists() else "")
    )
    # The last block's audit verify: every chain intact, on this test's topic.
    assert re.search(rf"^OK {re.escape(prefix)}workflow\.audit: ", out, re.M), out[-3000:]
    assert "outcome APPROVED (REVIEWER)" in out
