"""Fixtures shared by unit tests of more than one package (policy, cli)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write policy YAML text to a fresh file; returns its path."""
    counter = iter(range(10_000))

    def write(text: str) -> Path:
        path = tmp_path / f"policy-{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
