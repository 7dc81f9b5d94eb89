"""Validators of the SQL rules that judge a hit: token fingerprint and tautology.

``fingerprint`` (rule ``sqli_fingerprint``) tokenizes the value and its decoded forms with
the libinjection port; ``tautology`` (rules ``tautology``, ``tautology_breakout``) compares
the operands of ``or left = right``, which RE2 cannot (no backreferences). The probe
judges are in :mod:`sluice.sanitize.sql_probes`; the rules themselves in
``rules/sql.yaml``.
"""

from __future__ import annotations

from typing import Any

from sluice.sanitize.base import Check
from sluice.sanitize.sql_decode import DECODE_CHARS, PCT_ESCAPE, decoded_forms
from sluice.sanitize.sqli_fingerprint import detect_sqli

__all__ = ["check_fingerprint", "tautology_check"]


def check_fingerprint(view: str, m: Any, value: str) -> float | None:
    """libinjection's verdict on the value's forms (0.8 for fingerprints under 3 tokens)."""
    forms = decoded_forms(view)
    # A value with valid escapes reaches SQL decoded: its raw %XX form is not fingerprinted
    # (it only costs: ``%27%27...`` folds token by token up to the cap).
    url_encoded = len(forms) > 1 and PCT_ESCAPE.search(view[:DECODE_CHARS]) is not None
    for form in forms[1:] if url_encoded else forms:
        r = detect_sqli(form)
        if r is not None:
            return 0.9 if len(r.fingerprint) >= 3 or r.fingerprint == "X" else 0.8
    return None


def _operand(s: str) -> str:
    return s.strip().strip("'\"`").lower()


#: Candidates a tautology rule validates per field: the rule reports its first match,
#: and when that one is not a tautology (``or 1=2``) the next ones are tried, up to this.
_TAUT_CANDIDATES = 16


def tautology_check(raw: str) -> Check:
    """A validator for ``(?s)^.*?(<raw>)``: the first candidate, else the next few ones."""
    rx: list[Any] = []

    def check(view: str, m: Any, value: str) -> float | None:
        conf = _judge_tautology(m, 1)
        if conf is not None:
            return conf
        if not rx:
            import re2

            rx.append(re2.compile(raw))
        for n, cand in enumerate(rx[0].finditer(view, m.end())):
            if n >= _TAUT_CANDIDATES:
                break
            conf = _judge_tautology(cand, 0)
            if conf is not None:
                return conf
        return None

    return check


def _judge_tautology(m: Any, base: int) -> float | None:
    left, op, right = m.group(base + 1), m.group(base + 2).lower(), m.group(base + 3)
    a, b = _operand(left), _operand(right)
    if op in ("=", "==", "like", "is", ">=", "<=", "<=>"):
        return 0.9 if a == b else None
    if op in ("<>", "!="):
        quoted = left.strip()[:1] in "'\"" or a.replace(".", "").isdigit()
        return 0.8 if a != b and quoted else None
    return None
