"""Whole-value shapes of SQL fuzzing probes that need more than a regex to judge.

- ``arithmetic``: a value that is only a small arithmetic expression is how scanners test
  whether a number reaches SQL unquoted (``id=2-1`` shows record 1). Flagged when the
  expression is parenthesised (``(1)``, ``(1+0)``), multiplies by 0 or 1 (``1*56``), uses a truth
  value (``1-true``), or adds zero (``1+0``, ``0+1``). Left alone: any difference or
  quotient (``2-1``, ``1-1``, ``2-0`` are scores, ``1/2``, ``1/1`` fractions and dates,
  ``10-20`` ranges), ``1+1``, ``100*100`` (a size).
- ``hex_sql``: a ``0x…`` literal whose bytes (ASCII or UTF-16LE, MSSQL's ``nvarchar``)
  spell SQL (``0x77616974666f722064656c6179…`` = ``waitfor delay``), the way stacked
  MSSQL payloads hide a statement in ``DECLARE @s … EXEC(@s)``. Hashes, addresses and
  colours decode to non-text or to no SQL word.

Both are the checks of rules in ``rules/sql.yaml`` (``arithmetic_probe``, ``hex_statement``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["arithmetic_check", "hex_sql_check"]

_ARITH = re.compile(
    r"\s*(\(*)\s*(-?[0-9]{1,6})\s*([-+*/])\s*(-?[0-9]{1,6}|true|false|null)\s*(\)*)\s*",
    re.IGNORECASE,
)
_PARENS_ONLY = re.compile(r"\s*(\(+)\s*-?[0-9]{1,6}\s*(\)+)\s*")


def arithmetic_check(view: str, m: Any, value: str) -> float | None:
    """Confidence when the whole value is a probing arithmetic expression (module doc)."""
    if len(view) > 32:
        return None
    p = _PARENS_ONLY.fullmatch(view)
    if p is not None:
        return 0.7 if len(p.group(1)) == len(p.group(2)) else None
    a = _ARITH.fullmatch(view)
    if a is None:
        return None
    opened, left, op, right, closed = a.groups()
    if opened or closed:
        return 0.7 if len(opened) == len(closed) else None
    if not right.lstrip("-").isdigit():
        return 0.7  # 1-true, 1*null
    x, y = int(left), int(right)
    if op == "*" and (x in (0, 1) or y in (0, 1)):
        return 0.7  # 1*56, 3*1 (not 100*100, a size)
    if op == "+" and 0 in (x, y):
        return 0.7  # 1+0, 0+1
    # not x-y or x/y: scores (2-1, 1-1, 2-0), fractions and dates (1/2, 1/1)
    return None


_HEX_CHARS = 512
_SQL_WORD = re.compile(
    r"\b(?:select|union|waitfor|delay|exec|execute|declare|insert|update|delete|drop|"
    r"shutdown|sleep|xp_cmdshell|sp_\w+|from|where|char|cast|convert|concat|table)\b",
    re.IGNORECASE,
)


def _spelled(raw: bytes) -> str | None:
    for codec in ("utf-16-le", "ascii"):
        data = raw[: len(raw) // 2 * 2] if codec == "utf-16-le" else raw
        if codec == "utf-16-le" and data[1::2].strip(b"\x00"):
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if text.isprintable():
            return text
    return None


def hex_sql_check(view: str, m: Any, value: str) -> float | None:
    """Confidence when the ``0x`` literal's bytes spell text with an SQL word (module doc)."""
    digits = value[2:_HEX_CHARS]
    digits = digits[: len(digits) // 2 * 2]
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    text = _spelled(raw)
    if text is None or _SQL_WORD.search(text) is None:
        return None
    return 0.85
