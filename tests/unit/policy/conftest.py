"""Shared helpers for the policy tests: write a policy file, build events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluice.policy.cases import base_event


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write policy YAML text to a fresh file; returns its path."""
    counter = iter(range(10_000))

    def write(text: str) -> Path:
        path = tmp_path / f"policy-{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """Build a complete routine event with the given fields laid over it."""

    def make(**fields: Any) -> dict[str, Any]:
        event = base_event(1_700_000_000_000)
        event.update(fields)
        return event

    return make
