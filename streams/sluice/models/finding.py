"""A finding of the sanitize stage: where, what rule, how sure; never the raw value."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Finding", "FindingKind", "Severity"]


class FindingKind(StrEnum):
    """Detector families (SPEC §4)."""

    SECRET = "secret"  # noqa: S105 - a kind name, not a credential
    PII = "pii"
    MARKUP = "markup"
    SQL_INJECTION = "sql_injection"
    PROMPT_INJECTION = "prompt_injection"
    UNICODE = "unicode"


class Severity(StrEnum):
    """How bad a finding is, for policy and reviewers."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Finding(BaseModel):
    """One detection in one field. ``start``/``end`` index the field as received."""

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    #: Rule that fired, e.g. ``aws_access_key``.
    detector: str
    #: Field path: ``content``, ``arguments.query``, ``attributes.vendor``, ``model.name``.
    field: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    severity: Severity = Severity.MEDIUM
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    #: Truncated keyed hash of the matched value (HMAC-SHA-256), or None.
    fingerprint: str | None = None
    #: What sanitizing did about it: flagged, redacted, removed, escaped.
    action: str = "flagged"

    def to_avro(self) -> dict[str, Any]:
        """The Finding as the Avro ``sluice.v1.Finding`` record dict."""
        return {
            "kind": self.kind.value,
            "detector": self.detector,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "severity": self.severity.value,
            "confidence": self.confidence,
            "fingerprint": self.fingerprint,
            "action": self.action,
        }
