"""Short probes of attack tools in ``sql`` fields, judged on the value's unfolded tokens.

An ``sql`` field is a value that will be interpolated into a query, either inside a string
literal (``WHERE name = '<value>'``) or as a number (``WHERE id = <value>``). Scanners
first send short probes that only make sense there: a quote that closes the literal
followed by nothing, closing parentheses, a comment, a statement end or a boolean
operator with an operand (``1'``, ``')--``, ``' OR '``, ``x' or 1 --``); a number followed
by a boolean operator and a truth value (``1 AND 1``, ``AND 1``, ``-1 OR true``); a number
ended by ``;`` or ``)``, or ``;`` and a comment (``1;``, ``1;--``, ``1))``). The
libinjection fingerprint misses them (too few tokens, or whitelisted as ``3 and 4``).

These judges read the value's unfolded tokens (:func:`~sluice.sanitize.sqli_fingerprint.raw_tokens`)
in each quote context; ordinary values keep a quote between letters (``O'Brien``,
``D'Angelo``, ``it's``), a possessive (``Jones'``), a quoted phrase (``"INTO THE WILD"``),
a measure followed by more words (``16" or 18"``, ``5' 10"``), or words after
``and``/``or`` (``7 AND HALF``, ``10 OR LESS``). They are the checks of the rules
``quote_breakout``, ``numeric_boolean`` and ``statement_end`` in ``rules/sql.yaml``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sluice.sanitize.base import Check
from sluice.sanitize.sql_decode import decoded_forms
from sluice.sanitize.sqli_fingerprint import RawToken, raw_tokens

__all__ = ["PROBE_CHARS", "PROBE_NAMES", "clear_cache", "probe_check"]

#: Probes are short; longer values are judged by the fingerprint and the named rules.
PROBE_CHARS = 64
_PROBE_TOKENS = 10
_ONE_NUMBER = re.compile(r"[+-]?[0-9][0-9.]*")
_ONE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.@$-]*")
_TRUTH = frozenset({"0", "1", "true", "false", "null"})
_COMPARE = frozenset({"=", "==", "<>", "!=", "<=>", "<", ">", "<=", ">=", "like", "is", "rlike"})


def _is_comment(t: RawToken) -> bool:
    """A comment that truncates the rest of a query: ``--`` + space/end, ``#``, ``/*``."""
    v = t.val
    if t.type not in ("c", "o"):
        return False
    if v.startswith("/*"):
        return t.type == "c"
    if v.startswith("--"):
        return len(v) == 2 or v[2] in " \t\r\n\x0b\x0c"
    if v.startswith("#"):
        return len(v) == 1 or v[1] in " \t\r\n\x0b\x0c"
    return False


def _single_token(prefix: str, quote: str) -> bool:
    """``1``, ``-1``, ``admin`` (not ``Jones`` before ``'``: a possessive)."""
    if _ONE_NUMBER.fullmatch(prefix):
        return True
    if _ONE_WORD.fullmatch(prefix) is None:
        return False
    return not (quote == "'" and prefix[-1] in "sS")


def _operand_ends(rest: tuple[RawToken, ...], i: int) -> bool:
    """``rest[i]`` is a number or truth value that ends the value or a comparison/comment."""
    if i + 1 >= len(rest):
        return True
    nxt = rest[i + 1]
    return nxt.type in (")", ";") or _is_comment(nxt) or nxt.val.lower() in _COMPARE


def _quote_breakout(form: str) -> float | None:
    """A quote that would close the literal the value sits in, followed by SQL or nothing."""
    for quote in ("'", '"'):
        if quote not in form:
            continue
        toks, done = raw_tokens(form, quote, _PROBE_TOKENS)
        if not toks or toks[0].str_close != quote:
            continue
        prefix = toks[0].val.strip()
        short = prefix == "" or _single_token(prefix, quote)
        rest = toks[1:]
        i = 0
        while i < len(rest) and rest[i].type == ")":
            i += 1
        if i == len(rest):
            # 1' / admin" / 1')) / -1') : the quote (and closing parens) end the value
            if done and prefix and _single_token(prefix, quote):
                return 0.7
            continue
        t = rest[i]
        if _is_comment(t):  # admin'-- / ')# / x' /*
            if short:
                return 0.8
            continue
        if t.type == ";":  # 1'; / '; desc users; --
            after = rest[i + 1] if i + 1 < len(rest) else None
            if after is None and done and short:
                return 0.7
            if after is not None and (_is_comment(after) or after.type in "kETUB"):
                return 0.8
            continue
        if t.type == "&" and short and f"{quote}{t.val}{quote}" not in form:
            # ' OR ' / x' or 1 -- / ' or (EXISTS) / '||f( (not a quoted word: select 'and')
            if i + 1 >= len(rest):
                if done:
                    return 0.7
                continue
            nxt = rest[i + 1]
            if nxt.type in "s(vf" or (nxt.type == "1" and _operand_ends(rest, i + 1)):
                return 0.8
            if (
                nxt.type == "n"
                and i + 2 < len(rest)
                and (rest[i + 2].val.lower() in _COMPARE or rest[i + 2].type == "(")
            ):
                return 0.8  # ' or x=x / ' || pkg.fn(...)
    return None


def _sql_operand(toks: tuple[RawToken, ...], i: int) -> bool:
    """``toks[i]`` starts an operand only SQL has: a function, a parenthesised expression,
    a variable, or a string compared (``sleep(5)``, ``(EXISTS)``, ``@@version``, ``'a'='a``)."""
    t = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if t.type in ("f", "v"):
        return True
    if t.type == "(":
        return nxt is not None and nxt.type in "f1svE("
    if t.type == "s" and t.str_open:
        return nxt is not None and nxt.val.lower() in _COMPARE
    return False


def _numeric_boolean(form: str) -> float | None:
    """``1 AND 1`` / ``AND 1`` / ``-1 OR true`` / ``1) or 1``: a whole value, numeric context."""
    toks, done = raw_tokens(form, "", _PROBE_TOKENS)
    if not done or len(toks) > 8:
        return None
    i = 0
    if i < len(toks) and toks[i].type == "o" and toks[i].val in "+-":
        i += 1
    left = ""
    if i < len(toks) and toks[i].type == "1":
        left = toks[i].val.lower()
        i += 1
    closed = False
    while i < len(toks) and toks[i].type == ")":
        closed = True
        i += 1
    if i >= len(toks) or toks[i].type != "&":
        return None
    logic = toks[i].val.lower()
    i += 1
    if i < len(toks) and toks[i].type == "o" and toks[i].val.lower() in ("not", "!", "-"):
        i += 1
    if i >= len(toks):
        return None
    if left == "" and _sql_operand(toks, i):
        return 0.75  # ) or sleep(5)= / or (EXISTS) / ||UTL_HTTP.REQUEST / or 'a'='a
    if toks[i].type != "1" or not _operand_ends(toks, i):
        return None
    right = toks[i].val.lower()
    if left and not left[:1].isdigit():
        return None  # true or false
    if (
        not left
        or closed
        or left == right
        or right in _TRUTH
        or logic in ("&&", "||", "xor")
        or i + 1 < len(toks)  # 1 AND 2>1, 1 or 1 --
    ):
        return 0.75
    return None


def _terminator(form: str) -> float | None:
    """``1;`` / ``1;--`` / ``x; --`` / ``1))`` / ``1) --``: a number ending a statement."""
    toks, done = raw_tokens(form, "", 6)
    if not done or not toks:
        return None
    i = 0
    if toks[i].type == "o" and toks[i].val in "+-" and len(toks) > 1:
        i += 1
    lead = toks[i].type if i < len(toks) else ""
    if lead in ("1", "n"):
        i += 1
    else:
        lead = ""
    rest = toks[i:]
    if not rest:
        return None
    if rest[0].type == ";" and lead in ("1", "n", ""):
        tail = rest[1:]
        if not tail and lead == "1":  # 1; (not yes; or Smith;)
            return 0.7
        if len(tail) == 1 and _is_comment(tail[0]):
            return 0.75
        return None
    if rest[0].type == ")" and lead == "1":
        j = 0
        while j < len(rest) and rest[j].type == ")":
            j += 1
        tail = rest[j:]
        if not tail or (len(tail) == 1 and (tail[0].type == ";" or _is_comment(tail[0]))):
            return 0.7
    return None


def _probe_forms(view: str) -> list[str]:
    """The short forms of ``view`` a probe rule judges: decoded, and with ``\\'`` as ``'``."""
    out: list[str] = []
    for form in decoded_forms(view):
        f = form.strip()
        if not f or len(f) > PROBE_CHARS:
            continue
        out.append(f)
        if "\\'" in f or '\\"' in f:
            # MySQL's escaped quote: ``\'`` becomes ``\\'`` after escaping, and the quote closes
            out.append(f.replace("\\'", "'").replace('\\"', '"'))
    return out


#: Something a probe needs: a quote, ``;``, ``)``, or a boolean operator.
_PROBE_HINT = re.compile(r"['\";)&|]|\b(?:and|or|xor)\b", re.IGNORECASE)
_PROBE_JUDGES = (_quote_breakout, _numeric_boolean, _terminator)
#: The check names of the probe judges, in that order (``check:`` in ``rules/sql.yaml``).
PROBE_NAMES = ("quote_breakout", "numeric_boolean", "statement_end")


@functools.lru_cache(maxsize=256)
def _probe_verdicts(view: str) -> tuple[float | None, ...]:
    """The confidence of each probe judge on ``view`` (shared by the three rules)."""
    out: list[float | None] = [None] * len(_PROBE_JUDGES)
    if len(view) > PROBE_CHARS * 3:
        return tuple(out)
    for form in _probe_forms(view):
        if _PROBE_HINT.search(form) is None:
            continue
        for k, judge in enumerate(_PROBE_JUDGES):
            if out[k] is None:
                out[k] = judge(form)
    return tuple(out)


def probe_check(name: str) -> Check:
    """The check of probe rule ``name``: its judge's verdict on the field (cached per view)."""
    k = PROBE_NAMES.index(name)

    def check(view: str, m: Any, value: str) -> float | None:
        return _probe_verdicts(view)[k]

    return check


def clear_cache() -> None:
    """Forget cached verdicts (benchmarks time cold values)."""
    _probe_verdicts.cache_clear()
