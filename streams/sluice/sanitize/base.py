"""Building blocks shared by the detector families: rules, checks, fingerprints, entropy.

A :class:`Rule` is one RE2 pattern plus what a hit means (kind, detector, severity,
confidence) and an optional ``check`` that validates the matched value (Luhn, IBAN,
entropy, ...) and returns the confidence to report, or ``None`` to drop the hit. Every
pattern is RE2 syntax: the engine puts them into one ``re2.Set`` per field treatment and
only re-runs the patterns that hit, so matching is linear in the input size.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import re2

from sluice.models.finding import FindingKind, Severity

__all__ = [
    "ALL_TREATMENTS",
    "RE2_QUIET",
    "TREATMENTS",
    "Check",
    "Rule",
    "fingerprint",
    "placeholder",
    "shannon_entropy",
]

#: Field treatments (SPEC §4): free text, markup allowed then cleaned, SQL value, skipped.
TREATMENTS = ("text", "html", "sql", "none")
#: The treatments that are scanned at all.
ALL_TREATMENTS = frozenset({"text", "html", "sql"})

#: RE2 options for patterns that may be rejected (rule files, allow-lists): the caller
#: reports the error, RE2 does not also log it.
RE2_QUIET = re2.Options()
RE2_QUIET.log_errors = False

#: ``check(view, match, value) -> confidence | None``; ``match`` is an ``re2`` match object
#: on ``view`` (the normalised field), ``value`` the text of the rule's group.
Check = Callable[[str, Any, str], float | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One detection pattern (RE2 syntax) and what a hit on it means."""

    #: Detector name reported in findings, e.g. ``aws_access_key``.
    detector: str
    kind: FindingKind
    #: RE2 pattern; never run through Python ``re``.
    pattern: str
    severity: Severity = Severity.MEDIUM
    confidence: float = 0.9
    #: Capture group whose span is the finding (and, for secrets, what is redacted).
    group: int = 0
    #: Optional validator of the matched value.
    check: Check | None = None
    #: Field treatments the rule runs on.
    treatments: frozenset[str] = ALL_TREATMENTS
    #: Lower wins when two hits of the same family overlap (specific before generic).
    priority: int = 50
    #: Unique id of the rule (several rules may share a detector name).
    rule_id: str = field(default="")
    #: Checks one call of ``check`` on a field counts as (default 1), for checks whose
    #: work grows with the field (see matching.MAX_CHECKS_PER_RULE_PER_EVENT).
    check_cost: Callable[[str], int] | None = None

    @property
    def id(self) -> str:
        """The rule id, defaulting to the detector name."""
        return self.rule_id or self.detector


def fingerprint(key: bytes, value: str, length: int = 16) -> str:
    """Truncated hex HMAC-SHA-256 of ``value`` under ``key``.

    Returns ``length`` hex characters: stable for correlation across events, and not
    invertible without the key. Lone surrogates are encoded, never raise.
    """
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return digest[:length]


def placeholder(detector: str, fp: str) -> str:
    """The text that replaces a redacted value: ``[REDACTED:<detector>:<fingerprint>]``."""
    return f"[REDACTED:{detector}:{fp}]"


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0.0 for the empty string)."""
    n = len(value)
    if n == 0:
        return 0.0
    return -sum((c / n) * math.log2(c / n) for c in Counter(value).values())
