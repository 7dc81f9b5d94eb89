"""Fixtures for the sanitize stage tests."""

from __future__ import annotations

import pytest

from sluice.sanitize import Sanitizer

KEY = b"unit-test-fingerprint-key"


@pytest.fixture(scope="session")
def sanitizer() -> Sanitizer:
    """One Sanitizer for the session (compiling the sets takes a fraction of a second)."""
    return Sanitizer(KEY)
