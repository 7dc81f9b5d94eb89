"""Validation rules and their error codes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sluice.errors import ErrorCode, ValidationError
from sluice.models.event import Limits
from sluice.tools.bench.events import make_events
from sluice.validate import Validator

NOW = time.time_ns() // 1_000_000


def _ev(**kw: Any) -> dict[str, Any]:
    ev = make_events(1, seed=1, now_ms=NOW)[0]
    ev.update(kw)
    return ev


def test_valid_event_passes_unchanged() -> None:
    ev = _ev()
    assert Validator().validate(ev, NOW) is ev


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"event_id": "nope"}, ErrorCode.INVALID_UUID, "event_id"),
        ({"kind": "TELEPORT"}, ErrorCode.INVALID_ENUM, "kind"),
        ({"data_classification": "SECRET"}, ErrorCode.INVALID_ENUM, "data_classification"),
        ({"step": ""}, ErrorCode.EMPTY_FIELD, "step"),
        ({"step": "x" * 5000}, ErrorCode.FIELD_TOO_LONG, "step"),
        ({"confidence": 1.5}, ErrorCode.OUT_OF_RANGE, "confidence"),
        ({"cost_usd": -1.0}, ErrorCode.OUT_OF_RANGE, "cost_usd"),
        ({"cost_usd": float("nan")}, ErrorCode.OUT_OF_RANGE, "cost_usd"),
        ({"occurred_at": NOW - 30 * 86400_000}, ErrorCode.TIMESTAMP_OUT_OF_WINDOW, "occurred_at"),
        ({"occurred_at": NOW + 3600_000}, ErrorCode.TIMESTAMP_OUT_OF_WINDOW, "occurred_at"),
        (
            {"attributes": {f"k{i}": "v" for i in range(500)}},
            ErrorCode.TOO_MANY_ENTRIES,
            "attributes",
        ),
        ({"surprise": 1}, ErrorCode.UNEXPECTED_FIELD, "surprise"),
        ({"step": "a\x00b"}, ErrorCode.INVALID_TEXT, "step"),
        ({"content": "lone \ud800 surrogate"}, ErrorCode.INVALID_TEXT, "content"),
        ({"occurred_at": "yesterday"}, ErrorCode.INVALID_TYPE, "occurred_at"),
    ],
)
def test_rules_and_codes(change: dict[str, Any], code: ErrorCode, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Validator().validate(_ev(**change), NOW)
    assert info.value.code == code
    assert info.value.field is not None and info.value.field.startswith(field)


def test_missing_field() -> None:
    ev = _ev()
    del ev["run_id"]
    with pytest.raises(ValidationError) as info:
        Validator().validate(ev, NOW)
    assert info.value.code == ErrorCode.MISSING_FIELD


def test_errors_never_echo_values() -> None:
    secret = "AKIA" + "QX7PLB2YV4ZT9KMW"
    for change in ({"attributes": {secret: "\x00"}}, {"step": secret * 500}, {"kind": secret}):
        with pytest.raises(ValidationError) as info:
            Validator().validate(_ev(**change), NOW)
        assert secret not in str(info.value)


def test_limits_are_configurable() -> None:
    with pytest.raises(ValidationError):
        Validator(Limits(max_content_chars=10)).validate(_ev(content="x" * 11), NOW)
    Validator(Limits(max_content_chars=10)).validate(_ev(content="x" * 10), NOW)
