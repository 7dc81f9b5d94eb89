"""The light producer install: ``pip install sluice-gate`` (no extras) into a fresh venv
installs the Emitter and the event model without the worker's dependencies, and its
synchronous ``emit_sync`` publishes to the real Kafka.

Also: :class:`SyncEmitter` from this process, including from several threads and from
inside a running event loop's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import orjson
import pytest

from sluice.emitter import SyncEmitter, emit_sync
from sluice.kafka import create_topics
from tests.helpers import collect, settings_from_env, topics_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

EVENT = {
    "workflow_id": "wf",
    "run_id": "run-light",
    "step": "s",
    "kind": "PROMPT",
    "action": "llm.complete",
    "actor": {"id": "agent", "type": "AGENT"},
    "data_classification": "INTERNAL",
    "content": "hello from a light install",
}

#: Import names of the worker extra that must be absent from the light install.
WORKER_ONLY = ("re2", "nh3", "cel", "numpy", "faust", "prometheus_client", "typer", "yaml")

LIGHT_SCRIPT = """
import json, sys
from sluice.emitter import emit_sync
from sluice.models import StepKind, WorkflowEvent
missing = []
for name in sys.argv[2].split(","):
    try:
        __import__(name)
    except ImportError:
        missing.append(name)
event = json.loads(sys.argv[1])
assert event["kind"] in {k.value for k in StepKind}
print(json.dumps({"event_id": emit_sync(event), "missing": missing}))
"""


#: What every fresh venv holds; left out of the install's size.
VENV_BASE = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth")


def _du(path: Path) -> int:
    """Bytes under ``path`` without the venv's own pip and setuptools."""
    total = 0
    for f in path.rglob("*"):
        top = f.relative_to(path).parts[0]
        if top.split("-")[0] in VENV_BASE or top in VENV_BASE:
            continue
        if f.is_file() and not f.is_symlink():
            total += f.stat().st_size
    return total


def _site_packages(env_dir: Path) -> Path:
    (sp,) = env_dir.glob("lib/python*/site-packages")
    return sp


def test_light_install_emits_without_worker_dependencies(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    topics = topics_for(sluice_env)
    settings = settings_from_env(sluice_env)
    asyncio.run(create_topics(settings, names=[topics.events]))

    # Copy the sources pip needs (not a worktree's .venv or caches) and install with no extras.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "streams", src / "streams", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "schemas", src / "schemas")
    (src / "deploy/local/kafka").mkdir(parents=True)
    shutil.copy(ROOT / "deploy/local/kafka/pom.xml", src / "deploy/local/kafka/pom.xml")

    # Outside the repository, with no PYTHONPATH: only the installed package is importable.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(sluice_env)
    env_dir = tmp_path / "light"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    started = time.monotonic()
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=env,
    )
    install_s = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    site = _site_packages(env_dir)
    assert (site / "sluice" / "py.typed").is_file()

    proc = subprocess.run(
        [str(py), "-c", LIGHT_SCRIPT, orjson.dumps(EVENT).decode(), ",".join(WORKER_ONLY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = orjson.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(out["missing"]) == sorted(WORKER_ONLY)

    records = asyncio.run(collect(settings, topics.events))
    assert [r["event_id"] for r in records] == [out["event_id"]]
    assert records[0]["content"] == EVENT["content"]

    # The console script exists and names the extra instead of a traceback.
    proc = subprocess.run(
        [str(env_dir / "bin" / "sluice"), "run"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2
    assert "pip install 'sluice-gate[worker]'" in proc.stderr

    light_mb = _du(site) / 1e6
    full_mb = _du(Path(next(p for p in sys.path if p.endswith("site-packages")))) / 1e6
    print(
        f"\nlight install: {install_s:.0f}s, site-packages {light_mb:.0f} MB without pip and "
        f"setuptools (this test environment's, worker + dev extras: {full_mb:.0f} MB)"
    )


def test_sync_emitter_from_threads_and_a_running_loop(sluice_env: dict[str, str]) -> None:
    topics = topics_for(sluice_env)
    settings = settings_from_env(sluice_env)
    asyncio.run(create_topics(settings, names=[topics.events]))

    with SyncEmitter(settings) as emitter:
        assert emitter.topic == topics.events
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda i: emitter.emit({**EVENT, "run_id": f"r{i}"}), range(8)))

        async def inside_a_loop() -> str:
            # Blocks this loop while it waits (documented); it must not deadlock.
            return emitter.emit({**EVENT, "run_id": "in-loop"})

        ids.append(asyncio.run(inside_a_loop()))
    ids.append(emit_sync({**EVENT, "run_id": "once"}, settings))

    records = asyncio.run(collect(settings, topics.events))
    assert sorted(r["event_id"] for r in records) == sorted(ids)
    assert len(set(ids)) == 10
