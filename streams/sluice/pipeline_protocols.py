"""What :class:`sluice.pipeline.Intake` needs of its collaborators (structural types).

The sanitizer, the policy, the kill switch and the velocity counter are passed in; these
protocols name the few methods intake calls, so that tests and benchmarks can pass
their own.
"""

from __future__ import annotations

from typing import Any, Protocol

from sluice.models.finding import Finding

__all__ = ["CounterLike", "PolicyLike", "QuarantineLike", "SanitizerLike"]


class SanitizerLike(Protocol):
    """What intake needs of :class:`sluice.sanitize.Sanitizer`."""

    def sanitize_event(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]: ...

    def redact(self, text: str) -> str: ...


class PolicyLike(Protocol):
    """What intake needs of :class:`sluice.policy.Policy`."""

    hash: str

    def assess(self, event: dict[str, Any], findings: list[Finding]) -> Any: ...


class QuarantineLike(Protocol):
    """What intake needs of :class:`sluice.quarantine.Controls` (the kill switch)."""

    #: (held | rejected, subject type) → events changed since the last clear.
    hits: dict[tuple[str, str], int]

    @property
    def active(self) -> bool: ...

    def override(self, a: Any, event: dict[str, Any], now: int) -> Any: ...


class CounterLike(Protocol):
    """What intake needs of :class:`sluice.velocity.WindowCounter`."""

    def observe(self, event: dict[str, Any], at_ms: int, now_ms: int) -> dict[str, Any]: ...

    def drain(self) -> list[tuple[str, bytes | None]]: ...
