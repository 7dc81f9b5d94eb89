"""Shared helpers for the policy tests: build events (``write_policy``: tests/unit/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sluice.policy.cases import base_event


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """Build a complete routine event with the given fields laid over it."""

    def make(**fields: Any) -> dict[str, Any]:
        event = base_event(1_700_000_000_000)
        event.update(fields)
        return event

    return make
