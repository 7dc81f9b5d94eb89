"""SQL injection by token fingerprint: a pure-Python port of libinjection's SQLi detector.

libinjection (https://github.com/libinjection/libinjection, BSD 3-Clause, Copyright (c)
2012-2016 Nick Galbreath, 2021 LibInjection; ported from ``src/libinjection_sqli.c`` at
commit 85e252a) tokenizes a value as SQL, folds the tokens (``1+1`` -> ``1``, ``((`` -> ``(``,
``NOT IN`` -> one keyword, ...) into at most five token types (the *fingerprint*, e.g.
``s&1c`` for ``' or 1=1 --``), and looks the fingerprint up in a list learnt from real
attacks. The value is tried as it is, and as if it followed a single or a double quote.
The keyword table and the fingerprint list are data, in ``rules/sqli_keywords.tsv`` and
``rules/sqli_fingerprints.txt`` (licence in ``rules/LICENSE-libinjection.txt``), each read
once on first use.

The port, by job: :mod:`~sluice.sanitize.sqli_tokens` (token types, tokenizer state,
keyword table, words), :mod:`~sluice.sanitize.sqli_literals` (strings and other
literals), :mod:`~sluice.sanitize.sqli_lexer` (the tokenizer),
:mod:`~sluice.sanitize.sqli_fold` (folding), and this module (fingerprint, whitelist,
sluice's benign look-alikes, the public API).

Why a port: the PyPI bindings (``libinjection-python``, ``pylibinjection``) are
unmaintained and ship no CPython 3.11 wheel, only C to compile.

Cost bounds (additions to the original, which is C): whitespace runs, digit runs, word runs
and string/comment ends are found with single-character-class regexes or ``str.find``
(linear, in C); the analysed text is capped at :data:`MAX_CHARS` characters; and each pass
may call the tokenizer at most :data:`MAX_TOKENS_PER_PASS` times (a real payload settles
its five tokens within a few dozen; only degenerate folding input such as ``((((...`` or
``1,1,1,...`` gets near the cap, and then the fingerprint of what was read is used).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sluice.sanitize.sqli_fold import fold
from sluice.sanitize.sqli_lexer import tokenize
from sluice.sanitize.sqli_tokens import (
    MAX_CHARS,
    MAX_TOKENS_PER_PASS,
    QUOTE_DOUBLE,
    QUOTE_NONE,
    QUOTE_SINGLE,
    SQL_ANSI,
    SQL_MYSQL,
    T_BAREWORD,
    T_COMMENT,
    T_EVIL,
    T_KEYWORD,
    T_NUMBER,
    T_STRING,
    T_UNION,
    WHITE,
    State,
    data_lines,
)

__all__ = [
    "MAX_CHARS",
    "MAX_TOKENS_PER_PASS",
    "RawToken",
    "SqliResult",
    "clear_cache",
    "detect_sqli",
    "fingerprints_of",
    "raw_tokens",
]


@functools.cache
def _fingerprints() -> frozenset[str]:
    # As in the C table: fingerprints are compared upper-cased.
    return frozenset(fp.upper() for fp in data_lines("sqli_fingerprints.txt"))


def _fingerprint(sf: State, flags: int) -> str:
    sf.reset(flags)
    tlen = fold(sf)
    tv = sf.tokenvec
    if tlen > 2:
        last = tv[tlen - 1]
        if (
            last.type == T_BAREWORD
            and last.str_open == "`"
            and last.len == 0
            and last.str_close == ""
        ):
            last.type = T_COMMENT
    fp = "".join(tv[i].type for i in range(tlen))
    if T_EVIL in fp:
        for t in tv:
            t.clear()
        tv[0].type = T_EVIL
        tv[0].val = T_EVIL
        fp = T_EVIL
    return fp


def _blacklisted(fp: str) -> bool:
    return bool(fp) and fp.upper() in _fingerprints()


def _not_whitelisted(sf: State, fp: str) -> bool:
    tv = sf.tokenvec
    tlen = len(fp)
    if tlen > 1 and fp[-1] == T_COMMENT and "sp_password" in sf.s:
        return True
    if tlen == 2:
        if fp[1] == T_UNION:
            return sf.tokens != 2
        if tv[1].val[:1] == "#":
            return False
        if tv[0].type == T_BAREWORD and tv[1].type == T_COMMENT and tv[1].val[:1] != "/":
            return False
        if tv[0].type == T_NUMBER and tv[1].type == T_COMMENT and tv[1].val[:1] == "/":
            return True
        if tv[0].type == T_NUMBER and tv[1].type == T_COMMENT:
            if sf.tokens > 2:
                return True
            n = tv[0].len
            ch = sf.s[n] if n < sf.slen else "\x00"
            nxt = sf.s[n + 1] if n + 1 < sf.slen else "\x00"
            if ord(ch) <= 32:
                return True
            if ch == "/" and nxt == "*":
                return True
            return ch == "-" and nxt == "-"
        return not (tv[1].len > 2 and tv[1].val[:1] == "-")
    if tlen == 3:
        if fp in ("sos", "s&s"):
            return (
                tv[0].str_open == "" and tv[2].str_close == "" and tv[0].str_close == tv[2].str_open
            )
        if fp in ("s&n", "n&1", "1&1", "1&v", "1&s"):
            if sf.tokens == 3:
                return False
        elif tv[1].type == T_KEYWORD and (tv[1].len < 5 or tv[1].val[:4].upper() != "INTO"):
            return False
    return True


_PERCENT_UNIT = re.compile(r"[0-9]%\s*[A-Za-z]")
_COMPARISON = re.compile(r"[=<>]|\b(?:like|is|between|in)\b", re.IGNORECASE)


def _sluice_benign(sf: State, fp: str) -> bool:
    """Look-alikes of real query-string values that libinjection flags (sluice's addition).

    - ``sos``/``s&s`` in prose (the strings hold a space) whose middle token is itself
      quoted and is a word, or sits between two non-empty strings (``SMALL "&" SIGN``,
      ``BROWNING "LIKE"``): a quoted word, not an operator (``'&'``, ``1'||'asd'`` stay);
    - a two-token fingerprint ending in a ``--`` comment glued to a letter
      (``1611-IioXXIG1ti8rspL2vbXFy--``: an id, not a number followed by a comment);
    - ``1&1`` where a number carries a percent sign and a word (``80% ACRYLIC AND 20%
      WOOL``: a share, not ``80 % acrylic``, modulo a column) and nothing is compared;
    - ``nc`` where the comment is a bare unterminated ``/*`` at the end (``x/*``).
    """
    tv, s, n = sf.tokenvec, sf.s, sf.slen
    if fp == "1&1" and _PERCENT_UNIT.search(s) and not _COMPARISON.search(s):
        return True
    if len(fp) == 3 and fp[0] == T_STRING and fp[2] == T_STRING:
        mid = tv[1]
        before = s[mid.pos - 1] if mid.pos > 0 else ""
        after = s[mid.pos + mid.len] if mid.pos + mid.len < n else ""
        outer = tv[0].val + tv[2].val
        if (
            before in ("'", '"')
            and after in ("'", '"')
            and " " in outer
            and (mid.val.isalpha() or (tv[0].len > 0 and tv[2].len > 0))
        ):
            return True
    if len(fp) == 2 and fp[1] == T_COMMENT:
        c = tv[1]
        if c.val.startswith("--") and c.pos > 0 and s[c.pos - 1].isalpha():
            return True
        if fp[0] == T_BAREWORD and c.val == "/*" and c.pos + 2 == n:
            return True
    return False


def _check(sf: State, flags: int) -> str | None:
    fp = _fingerprint(sf, flags)
    if _blacklisted(fp) and _not_whitelisted(sf, fp) and not _sluice_benign(sf, fp):
        return fp
    return None


@dataclass(frozen=True, slots=True)
class SqliResult:
    """A value libinjection judges SQLi: the matching fingerprint and the quote context."""

    fingerprint: str
    #: ``""`` (as is), ``"'"`` or ``'"'``: the quote the value is assumed to follow.
    context: str


def detect_sqli(value: str) -> SqliResult | None:
    """libinjection's ``is_sqli`` on ``value`` (first :data:`MAX_CHARS` characters).

    ~40-150 µs per short value in pure Python; repeated values (the same query parameter
    across events) come from a small cache.
    """
    if not value:
        return None
    return _detect_prefix(value[:MAX_CHARS])


def clear_cache() -> None:
    """Forget cached fingerprints (benchmarks time cold values)."""
    _detect_prefix.cache_clear()


@functools.lru_cache(maxsize=1024)
def _detect_prefix(s: str) -> SqliResult | None:
    sf = State(s)
    fp = _check(sf, QUOTE_NONE | SQL_ANSI)
    if fp:
        return SqliResult(fp, "")
    if sf.comment_ddx or sf.comment_hash:
        fp = _check(sf, QUOTE_NONE | SQL_MYSQL)
        if fp:
            return SqliResult(fp, "")
    if "'" in s:
        fp = _check(sf, QUOTE_SINGLE | SQL_ANSI)
        if fp:
            return SqliResult(fp, "'")
        if sf.comment_ddx or sf.comment_hash:
            fp = _check(sf, QUOTE_SINGLE | SQL_MYSQL)
            if fp:
                return SqliResult(fp, "'")
    if '"' in s:
        fp = _check(sf, QUOTE_DOUBLE | SQL_MYSQL)
        if fp:
            return SqliResult(fp, '"')
    return None


def fingerprints_of(value: str) -> list[str]:
    """The fingerprints of ``value`` as is, after ``'`` and after ``"`` (for debugging)."""
    s = value[:MAX_CHARS]
    sf = State(s)
    return [
        _fingerprint(sf, QUOTE_NONE | SQL_ANSI),
        _fingerprint(sf, QUOTE_SINGLE | SQL_ANSI),
        _fingerprint(sf, QUOTE_DOUBLE | SQL_MYSQL),
    ]


@dataclass(frozen=True, slots=True)
class RawToken:
    """One unfolded token: its type (``T_*``), text, and for strings the quotes around it."""

    type: str
    val: str
    str_open: str
    str_close: str


def raw_tokens(value: str, context: str = "", limit: int = 12) -> tuple[tuple[RawToken, ...], bool]:
    """The first ``limit`` unfolded tokens of ``value`` and whether they cover all of it.

    ``context`` is ``""`` (the value as is), ``"'"`` or ``'"'`` (the value as if it sat
    inside a string literal opened by that quote: the first token is the string up to
    the first such quote). Used by sluice's short-probe rules; ``limit`` bounds the work.
    """
    s = value[:MAX_CHARS]
    sf = State(s)
    if context == "'":
        sf.reset(QUOTE_SINGLE | SQL_ANSI)
    elif context == '"':
        sf.reset(QUOTE_DOUBLE | SQL_MYSQL)
    out: list[RawToken] = []
    while len(out) < limit and tokenize(sf):
        t = sf.current
        out.append(RawToken(t.type, t.val, t.str_open, t.str_close))
    done = sf.pos >= sf.slen or not s[sf.pos :].strip(WHITE)
    return tuple(out), done
