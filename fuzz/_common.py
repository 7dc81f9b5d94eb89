"""Shared set-up of the atheris harnesses: the intake stage built as ``sluice run`` builds it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

# Runnable from a checkout without installing: make ``sluice`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streams"))

__all__ = ["NOW", "build", "report"]

NOW = time.time_ns() // 1_000_000
_RUNS = [0]


def build() -> tuple[Any, Any]:
    """(intake, sanitizer) with a synthetic fingerprint key and the default policy."""
    from sluice.settings import load_settings
    from sluice.worker import build_intake

    settings = load_settings(fingerprint_key="fuzz-" + "key", data_dir=os.devnull)
    intake, _ = build_intake(settings)
    return intake, intake._sanitizer  # noqa: SLF001 - the same sanitizer intake runs


def count() -> None:
    """Count one execution (reported at exit)."""
    _RUNS[0] += 1


def report(name: str) -> None:
    """Print the number of executions that completed without a crash."""
    print(f"{name}: {_RUNS[0]} executions without a crash", file=sys.stderr)
