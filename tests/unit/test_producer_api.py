"""The producer API stays light: importing the Emitter and the event model pulls in no
worker dependency, the model and enums are public, and the console script names the
worker extra when the command line's dependencies are missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sluice.cli.entry import WORKER_EXTRA, WORKER_MODULES
from sluice.emitter import SyncEmitter
from sluice.settings import Settings

STREAMS = Path(__file__).resolve().parents[2] / "streams"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(STREAMS)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_emitter_and_models_import_no_worker_dependency() -> None:
    code = (
        "import sys\n"
        "from sluice.emitter import Emitter, SyncEmitter, emit_sync\n"
        "from sluice.models import WorkflowEvent, StepKind, ActorType, DataClassification\n"
        "import sluice.models, sluice.errors\n"
        f"heavy = {sorted(WORKER_MODULES)!r}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"worker modules imported: {proc.stdout}"


def test_worker_modules_cover_the_extra() -> None:
    # Each named module is one the worker extra provides (re2, nh3, cel, numpy, ...).
    for name in ("re2", "nh3", "cel", "numpy", "prometheus_client", "typer", "faust", "yaml"):
        assert name in WORKER_MODULES


def test_event_model_and_enums_are_public() -> None:
    from sluice.models import ActorType, StepKind, WorkflowEvent

    ev = WorkflowEvent.model_validate(
        {
            "event_id": "0b7e7c1e-8a4c-4c1e-9d6a-2f0e2d5b8a11",
            "workflow_id": "wf",
            "run_id": "r",
            "step": "s",
            "kind": StepKind.PROMPT.value,
            "actor": {"id": "a", "type": ActorType.AGENT.value},
            "action": "llm.complete",
            "data_classification": "INTERNAL",
            "occurred_at": 1,
        }
    )
    assert ev.kind == "PROMPT"  # type: ignore[attr-defined]


def test_package_is_typed() -> None:
    assert (STREAMS / "sluice" / "py.typed").is_file()


def test_console_script_names_the_worker_extra_without_it() -> None:
    # typer absent (None in sys.modules makes `import typer` raise ModuleNotFoundError).
    code = (
        "import sys\n"
        "sys.modules['typer'] = None\n"
        "from sluice.cli.entry import main\n"
        "raise SystemExit(main(['run']))\n"
    )
    proc = _run(code)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and WORKER_EXTRA in err[0] and "typer" in err[0]


def test_sync_emitter_not_started() -> None:
    em = SyncEmitter(Settings(bootstrap_servers="127.0.0.1:1"), topic="t")
    with pytest.raises(RuntimeError, match="not started"):
        em.emit({"run_id": "r"})
    em.close()  # safe when never started
