"""SQL injection detectors: tautology, stacked query, comment truncation, UNION, time-based blind.

Approach: RE2 patterns with small Python validators, not libinjection and not sqlparse.

- libinjection: the PyPI bindings are unmaintained (``libinjection-python`` 1.1.6 of 2022,
  ``pylibinjection`` of 2014) and ship no wheel for CPython 3.11 here, only a C sdist to
  compile; a C tokenizer we cannot pin or rebuild reliably is a poor fit for a security
  gate's hot path.
- sqlparse: a non-validating pure-Python parser, ~100x slower per value than one RE2 set
  match, and it tokenises rather than judges: the injection logic would still be ours.
- RE2: linear time on attacker input by construction, joins the one-pass ``re2.Set`` of
  the field, and the rules stay small and testable. Tautologies need "left equals right",
  which RE2 cannot express (no backreferences), so a validator compares the two operands.

Fields treated ``sql`` (values interpolated into a query) get every rule. ``text`` and
``html`` fields get stricter variants that require a quote break-out (``' or 1=1``,
``'; drop``) so that prose and code that merely mention SQL do not fire.
"""

from __future__ import annotations

from typing import Any

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule

__all__ = ["sql_rules"]

_SQLI = FindingKind.SQL_INJECTION
_SQL_ONLY = frozenset({"sql"})
_PROSE = frozenset({"text", "html"})
_WS = r"(?:\s|/\*[^*]*\*/|\+)+"  # whitespace, inline comments, URL-encoded spaces


def _operand(s: str) -> str:
    return s.strip().strip("'\"`").lower()


def _check_tautology(view: str, m: Any, value: str) -> float | None:
    left, op, right = m.group(1), m.group(2).lower(), m.group(3)
    a, b = _operand(left), _operand(right)
    if op in ("=", "==", "like", "is", ">=", "<=", "<=>"):
        return 0.9 if a == b else None
    if op in ("<>", "!="):
        quoted = left.strip()[:1] in "'\"" or a.replace(".", "").isdigit()
        return 0.8 if a != b and quoted else None
    return None


_TAUT_TAIL = (
    r"(?:or|\|\||and|&&|xor)" + _WS + r"(?:not" + _WS + r")?(['\"]?[A-Za-z0-9_.]+['\"]?)\s*"
    r"(=|==|<>|!=|<=>|>=|<=|\blike\b|\bis\b)\s*(['\"]?[A-Za-z0-9_.]+['\"]?)"
)
_TAUT = r"(?i)(?:^|['\")\s])\s*" + _TAUT_TAIL
_TAUT_BREAKOUT = r"(?i)['\"]\s*\)*\s*" + _TAUT_TAIL


def sql_rules() -> list[Rule]:
    """The SQL injection rules (``sql`` fields get all; prose fields the break-out forms)."""
    return [
        # -- tautology -------------------------------------------------------------
        Rule(
            "tautology",
            _SQLI,
            _TAUT,
            Severity.HIGH,
            0.9,
            check=_check_tautology,
            treatments=_SQL_ONLY,
            priority=20,
        ),
        Rule(
            "tautology",
            _SQLI,
            _TAUT_BREAKOUT,
            Severity.HIGH,
            0.9,
            check=_check_tautology,
            treatments=_PROSE,
            priority=20,
            rule_id="tautology_breakout",
        ),
        Rule(
            "tautology",
            _SQLI,
            r"(?i)(?:^|['\")\s])\s*or" + _WS + r"(?:true|not" + _WS + r"false|[1-9][0-9]*)"
            r"\s*(?:--|#|/\*|;|\)|$)",
            Severity.HIGH,
            0.85,
            treatments=_SQL_ONLY,
            priority=20,
            rule_id="tautology_true",
        ),
        Rule(
            "tautology",
            _SQLI,
            r"(?i)'\s*or\s*'[^']*'\s*=\s*'",
            Severity.HIGH,
            0.95,
            priority=20,
            rule_id="tautology_empty_string",
        ),
        # -- stacked queries ---------------------------------------------------------
        Rule(
            "stacked_query",
            _SQLI,
            r"(?i);\s*(?:select|insert|update|delete|drop|alter|create|truncate|exec|execute|"
            r"shutdown|declare|grant|revoke|merge|call|replace|waitfor)\b",
            Severity.HIGH,
            0.9,
            treatments=_SQL_ONLY,
            priority=20,
        ),
        Rule(
            "stacked_query",
            _SQLI,
            r"(?i)['\"]\s*\)*\s*;\s*(?:drop|delete|insert|update|truncate|alter|exec|execute|"
            r"shutdown|select|create|grant)\b",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=20,
            rule_id="stacked_breakout",
        ),
        # -- comment truncation ------------------------------------------------------
        Rule(
            "comment_truncation",
            _SQLI,
            r"['\"`]\s*\)*\s*(?:--|#|/\*)",
            Severity.MEDIUM,
            0.8,
            treatments=_SQL_ONLY,
            priority=30,
        ),
        Rule(
            "comment_truncation",
            _SQLI,
            r"(?:^|\s|\))(?:--|#)(?:\s|$)|/\*!?[0-9]*",
            Severity.MEDIUM,
            0.7,
            treatments=_SQL_ONLY,
            priority=31,
            rule_id="comment_anywhere",
        ),
        Rule(
            "comment_truncation",
            _SQLI,
            r"[A-Za-z0-9]['\"]\s*\)*\s*(?:--|#)(?:\s|$)",
            Severity.MEDIUM,
            0.7,
            treatments=_PROSE,
            priority=30,
            rule_id="comment_breakout",
        ),
        # -- UNION-based extraction ----------------------------------------------------
        Rule(
            "union_select",
            _SQLI,
            r"(?i)\bunion" + _WS + r"(?:all" + _WS + r"|distinct" + _WS + r")?select\b",
            Severity.HIGH,
            0.95,
            treatments=_SQL_ONLY,
            priority=10,
        ),
        Rule(
            "union_select",
            _SQLI,
            r"(?i)(?:['\")]|\b[0-9]+)\s*union"
            + _WS
            + r"(?:all"
            + _WS
            + r"|distinct"
            + _WS
            + r")?select\b",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=10,
            rule_id="union_breakout",
        ),
        # -- time-based blind ------------------------------------------------------------
        Rule(
            "time_based_blind",
            _SQLI,
            r"(?i)\b(?:sleep|pg_sleep)\s*\(\s*[0-9]|\bwaitfor\s+delay\s+['\"]|"
            r"\bbenchmark\s*\(\s*[0-9]+\s*,|\bdbms_(?:lock\.sleep|pipe\.receive_message)\b",
            Severity.HIGH,
            0.9,
            treatments=_SQL_ONLY,
            priority=10,
        ),
        Rule(
            "time_based_blind",
            _SQLI,
            r"(?i)(?:['\"]|\b(?:and|or)\b)\s*\(?\s*(?:select\s+)?(?:sleep|pg_sleep)\s*\(\s*[0-9]"
            r"|\bwaitfor\s+delay\s+['\"][0-9:]+['\"]|\bdbms_(?:lock\.sleep|pipe\.receive_message)\b",
            Severity.HIGH,
            0.85,
            treatments=_PROSE,
            priority=10,
            rule_id="blind_breakout",
        ),
    ]
