"""SQL injection detectors: libinjection's token fingerprints, plus named RE2 rules.

Fields treated ``sql`` (values interpolated into a query, e.g. HTTP parameter values):

- ``sqli_fingerprint``: the value, and its URL-decoded form when it holds ``%XX`` escapes
  (decoded up to three times, for double encoding), is tokenized and folded by
  :mod:`sluice.sanitize.sqli_fingerprint` (a port of libinjection, BSD) and its token
  fingerprint looked up in libinjection's list. This is what catches boolean-blind
  payloads with comparisons and nested parentheses, function probes (``version()``,
  ``extractvalue``, ``updatexml``), ``-1union(((select``, ``%0A``-separated payloads and
  MySQL versioned comments ``/*!50000UNION*/`` (unparsable comments are themselves SQLi).
- named RE2 rules (tautology, stacked query, comment truncation, UNION, time-based blind,
  stored-procedure call, function probe) keep explainable detector names and catch what
  the five-token fingerprint misses (e.g. ``EXEC sp_configure``). Those named rules see
  the view; ``sqli_fingerprint`` also sees decoded forms.

``text`` and ``html`` fields get stricter variants that require an injection context:
a quote break-out (``' or 1=1``, ``'; drop``), a comment-obfuscated ``UNION/**/SELECT`` or
versioned comment, or a stacked ``; DROP TABLE x --``, so that prose and code that merely
mention SQL do not fire.

Why not sqlparse: a non-validating parser ~100x slower per value than one RE2 set match
that tokenises rather than judges. Why RE2 for the named rules: linear time on attacker
input, one-pass ``re2.Set`` with the other families. Tautologies need "left equals right",
which RE2 cannot express (no backreferences), so a validator compares the two operands.
"""

from __future__ import annotations

import functools
import urllib.parse
from typing import Any

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule
from sluice.sanitize.sqli_fingerprint import MAX_CHARS, detect_sqli

__all__ = ["decoded_forms", "sql_rules"]

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


#: A value worth tokenizing: it has a separator or SQL punctuation somewhere (single
#: words and plain numbers cannot form an injection fingerprint). Spans the whole field.
_SQLISH = r"(?s)^.*[\s'\"`;()#=<>|&*/\\%+,!~^@{}\[\]\-].*"


@functools.lru_cache(maxsize=256)
def decoded_forms(view: str) -> tuple[str, ...]:
    """``view`` and its URL-decoded forms (``%XX``, up to three rounds for double encoding).

    Only the first ``3 * MAX_CHARS`` characters are decoded: the fingerprint reads at most
    ``MAX_CHARS`` of a form.
    """
    forms = [view]
    cur = view[: 3 * MAX_CHARS]
    for _ in range(3):
        if "%" not in cur:
            break
        nxt = urllib.parse.unquote(cur, errors="replace")
        if nxt == cur:
            break
        cur = nxt
        forms.append(cur)
    return tuple(forms)


def _check_fingerprint(view: str, m: Any, value: str) -> float | None:
    for form in decoded_forms(view):
        r = detect_sqli(form)
        if r is not None:
            return 0.9 if len(r.fingerprint) >= 3 or r.fingerprint == "X" else 0.8
    return None


def sql_rules() -> list[Rule]:
    """The SQL injection rules (``sql`` fields get all; prose fields the break-out forms)."""
    return [
        # -- token fingerprint (libinjection) -------------------------------------------
        Rule(
            "sqli_fingerprint",
            _SQLI,
            _SQLISH,
            Severity.HIGH,
            0.9,
            check=_check_fingerprint,
            treatments=_SQL_ONLY,
            priority=15,
        ),
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
