"""Error tree of sluice. One root; every subclass carries a stable ``code``.

::

    SluiceError
    ├── ConfigError            bad settings, policy or registry file (refuses to start)
    ├── RejectedRecord         a record intake will not accept → DLQ with ``code``
    │   ├── DecodeError        framing / Avro problems
    │   └── ValidationError    schema-valid but semantically invalid
    └── EmitError              the Emitter refused an event before sending

Messages never contain the raw value that caused them: they name the field and the
rule, so that they are safe in logs, DLQ details and CLI output.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConfigError",
    "DecodeError",
    "EmitError",
    "ErrorCode",
    "RejectedRecord",
    "SluiceError",
    "ValidationError",
]


class ErrorCode(StrEnum):
    """Closed set of reasons a record lands in the DLQ (also a metric label)."""

    BAD_MAGIC = "bad_magic"
    UNKNOWN_FINGERPRINT = "unknown_fingerprint"
    WRONG_SCHEMA = "wrong_schema"
    TRUNCATED = "truncated"
    TRAILING_BYTES = "trailing_bytes"
    MALFORMED_AVRO = "malformed_avro"
    INVALID_UTF8 = "invalid_utf8"
    RECORD_TOO_LARGE = "record_too_large"
    MISSING_FIELD = "missing_field"
    UNEXPECTED_FIELD = "unexpected_field"
    INVALID_UUID = "invalid_uuid"
    INVALID_ENUM = "invalid_enum"
    INVALID_TYPE = "invalid_type"
    FIELD_TOO_LONG = "field_too_long"
    TOO_MANY_ENTRIES = "too_many_entries"
    EMPTY_FIELD = "empty_field"
    TIMESTAMP_OUT_OF_WINDOW = "timestamp_out_of_window"
    OUT_OF_RANGE = "out_of_range"
    INVALID_TEXT = "invalid_text"
    INTERNAL_ERROR = "internal_error"
    # Producer authentication (sluice.producers), only with SLUICE_PRODUCERS_FILE set.
    PRODUCER_UNSIGNED = "producer_unsigned"
    PRODUCER_MALFORMED = "producer_malformed"
    PRODUCER_UNKNOWN_KEY = "producer_unknown_key"
    PRODUCER_REVOKED_KEY = "producer_revoked_key"
    PRODUCER_BAD_SIGNATURE = "producer_bad_signature"
    PRODUCER_NOT_AUTHORIZED = "producer_not_authorized"
    # Schema registry framing (sluice.codec.registry), only with SLUICE_SCHEMA_REGISTRY_URL.
    UNKNOWN_SCHEMA_ID = "unknown_schema_id"
    SCHEMA_WRONG_SUBJECT = "schema_wrong_subject"
    #: Never a DLQ code: the batch is retried (sluice.codec.registry.RegistryUnavailable).
    SCHEMA_REGISTRY_UNAVAILABLE = "schema_registry_unavailable"
    #: A notification a sink kept refusing (sluice.notify); no event payload is kept.
    NOTIFY_FAILED = "notify_failed"


class SluiceError(Exception):
    """Root of every error sluice raises on purpose."""


class ConfigError(SluiceError):
    """A setting, policy or registry is unusable; the process refuses to start."""


class RejectedRecord(SluiceError):
    """A record that cannot be accepted. ``code`` is its DLQ reason; ``field`` where known."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, code: ErrorCode, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class DecodeError(RejectedRecord):
    """The bytes are not a decodable single-object Avro record of a known schema."""


class ValidationError(RejectedRecord):
    """The record decoded but breaks a field rule (UUID, enum, size, window, range)."""


class EmitError(SluiceError):
    """The Emitter refused an event before it reached Kafka."""
