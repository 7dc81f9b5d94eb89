"""Validate a decoded WorkflowEvent dict: pure, raises :class:`ValidationError` with a code.

The pydantic model does the field rules; this module adds what needs context (the
time window around ``now``) and what the model cannot express cheaply (NUL bytes and
lone surrogates in text). Details name the field and the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pydantic

from sluice.errors import ErrorCode, ValidationError
from sluice.models.event import Limits, event_model

__all__ = ["TOP_LEVEL_TEXT_FIELDS", "Validator", "iter_text_fields"]

_TYPE_CODES: dict[str, ErrorCode] = {
    "missing": ErrorCode.MISSING_FIELD,
    "extra_forbidden": ErrorCode.UNEXPECTED_FIELD,
    "string_pattern_mismatch": ErrorCode.INVALID_UUID,
    "literal_error": ErrorCode.INVALID_ENUM,
    "enum": ErrorCode.INVALID_ENUM,
    "string_too_long": ErrorCode.FIELD_TOO_LONG,
    "string_too_short": ErrorCode.EMPTY_FIELD,
    "too_long": ErrorCode.TOO_MANY_ENTRIES,
    "greater_than_equal": ErrorCode.OUT_OF_RANGE,
    "less_than_equal": ErrorCode.OUT_OF_RANGE,
    "greater_than": ErrorCode.OUT_OF_RANGE,
    "less_than": ErrorCode.OUT_OF_RANGE,
    "finite_number": ErrorCode.OUT_OF_RANGE,
    "string_unicode": ErrorCode.INVALID_TEXT,
}


def _loc(loc: tuple[int | str, ...]) -> str:
    # Map keys are attacker-controlled text: name the map, not the key.
    parts: list[str] = []
    for i, p in enumerate(loc):
        if i > 0 and parts and parts[-1] in ("arguments", "attributes"):
            parts.append("[key]")
            break
        parts.append(str(p))
    return ".".join(parts) or "record"


#: The top-level string fields of a WorkflowEvent (the nested ones are walked by hand).
TOP_LEVEL_TEXT_FIELDS = (
    "event_id",
    "workflow_id",
    "run_id",
    "step",
    "action",
    "on_behalf_of",
    "resource",
    "content",
    "trace_id",
)


def iter_text_fields(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (field path, text) for every string in an event, map keys included.

    Map entries are named ``arguments.<key>``; a key itself as ``arguments.<key>#key``.
    """
    for name in TOP_LEVEL_TEXT_FIELDS:
        value = event.get(name)
        if isinstance(value, str):
            yield name, value
    actor = event.get("actor")
    if isinstance(actor, dict):
        if isinstance(actor.get("id"), str):
            yield "actor.id", actor["id"]
        for i, role in enumerate(actor.get("roles") or ()):
            if isinstance(role, str):
                yield f"actor.roles[{i}]", role
    model = event.get("model")
    if isinstance(model, dict):
        for name in ("name", "version", "provider"):
            if isinstance(model.get(name), str):
                yield f"model.{name}", model[name]
    for map_name in ("arguments", "attributes"):
        mapping = event.get(map_name)
        if isinstance(mapping, dict):
            for k, v in mapping.items():
                if isinstance(k, str):
                    yield f"{map_name}.{k}#key", k
                if isinstance(v, str):
                    yield f"{map_name}.{k}", v


class Validator:
    """Checks events against one set of limits and time window.

    Args:
        limits: field size limits (shapes the pydantic model).
        max_past_ms / max_future_ms: how far ``occurred_at`` may be from now.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        max_past_ms: int = 7 * 24 * 3600 * 1000,
        max_future_ms: int = 300 * 1000,
    ) -> None:
        self._model = event_model(limits or Limits())
        self._max_past_ms = max_past_ms
        self._max_future_ms = max_future_ms

    def validate(self, event: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """Return ``event`` unchanged if valid.

        Raises:
            ValidationError: the first problem found, with its code and field.
        """
        try:
            self._model.model_validate(event)
        except pydantic.ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            etype = err["type"]
            code = _TYPE_CODES.get(etype)
            if code is None:
                code = ErrorCode.INVALID_TYPE
            field = _loc(tuple(err["loc"]))
            if code is ErrorCode.INVALID_UUID and not field.endswith("event_id"):
                code = ErrorCode.INVALID_TYPE
            raise ValidationError(code, f"{field}: {etype}", field=field) from None
        occurred = event["occurred_at"]
        if occurred < now_ms - self._max_past_ms or occurred > now_ms + self._max_future_ms:
            raise ValidationError(
                ErrorCode.TIMESTAMP_OUT_OF_WINDOW,
                f"occurred_at is {(occurred - now_ms) / 1000:+.0f}s from now, allowed "
                f"-{self._max_past_ms // 1000}s..+{self._max_future_ms // 1000}s",
                field="occurred_at",
            )
        # Fast path: one JSON dump finds NUL (escaped as \u0000) and lone surrogates
        # (orjson refuses them) in all strings at once; only then look for the field.
        try:
            if b"\\u0000" not in orjson.dumps(event):
                return event
        except orjson.JSONEncodeError:
            pass
        for path, text in iter_text_fields(event):
            if "\x00" in text:
                raise ValidationError(
                    ErrorCode.INVALID_TEXT, f"{_safe(path)}: NUL byte", field=path
                )
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationError(
                        ErrorCode.INVALID_TEXT, f"{_safe(path)}: lone surrogate", field=path
                    ) from None
        return event


def _safe(path: str) -> str:
    """A field path safe to print: map keys (attacker text) are replaced by [key]."""
    for prefix in ("arguments.", "attributes."):
        if path.startswith(prefix):
            return prefix + "[key]"
    return path
