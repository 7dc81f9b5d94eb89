"""The libinjection port's tokenizer: one parser per leading character, and ``tokenize``.

Whitespace, operators, comments, punctuation, numbers and ``[bracketed]`` words are lexed
here; literals in :mod:`sluice.sanitize.sqli_literals`, words in
:mod:`sluice.sanitize.sqli_tokens`. Statement for statement as libinjection's
``libinjection_sqli_tokenize`` and its ``parse_*`` functions (``src/libinjection_sqli.c``,
BSD 3-Clause, see :mod:`sluice.sanitize.sqli_fingerprint`), with linear runs found by
single-character-class regexes or ``str.find``, and at most
:data:`~sluice.sanitize.sqli_tokens.MAX_TOKENS_PER_PASS` tokenizer calls per pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sluice.sanitize.sqli_literals import (
    parse_bstring,
    parse_estring,
    parse_money,
    parse_nqstring,
    parse_qstring,
    parse_string,
    parse_string_core,
    parse_tick,
    parse_ustring,
    parse_var,
    parse_xstring,
)
from sluice.sanitize.sqli_tokens import (
    BIN_RUN,
    HEX_RUN,
    MAX_TOKENS_PER_PASS,
    QUOTE_DOUBLE,
    QUOTE_SINGLE,
    SQL_ANSI,
    SQL_MYSQL,
    T_BACKSLASH,
    T_BAREWORD,
    T_COLON,
    T_COMMENT,
    T_DOT,
    T_EVIL,
    T_NUMBER,
    T_OPERATOR,
    T_UNKNOWN,
    WHITE,
    State,
    lookup,
    parse_word,
)

_WHITE_RUN = re.compile(r"[\x00-\x20\x7f\xa0]+")
_DIGITS = re.compile(r"[0-9]*")

# -- parsers: each takes the state, fills state.current, returns the next position ----------


def _parse_white(sf: State) -> int:
    m = _WHITE_RUN.match(sf.s, sf.pos)
    return m.end() if m else sf.pos + 1


def _parse_operator1(sf: State) -> int:
    sf.current.assign_char(T_OPERATOR, sf.pos, sf.s[sf.pos])
    return sf.pos + 1


def _parse_other(sf: State) -> int:
    sf.current.assign_char(T_UNKNOWN, sf.pos, sf.s[sf.pos])
    return sf.pos + 1


def _parse_char(sf: State) -> int:
    ch = sf.s[sf.pos]
    sf.current.assign_char(ch, sf.pos, ch)
    return sf.pos + 1


def _parse_eol_comment(sf: State) -> int:
    s, pos = sf.s, sf.pos
    end = s.find("\n", pos)
    if end < 0:
        sf.current.assign(T_COMMENT, pos, sf.slen - pos, s, pos)
        return sf.slen
    sf.current.assign(T_COMMENT, pos, end - pos, s, pos)
    return end + 1


def _parse_hash(sf: State) -> int:
    sf.comment_hash += 1
    if sf.flags & SQL_MYSQL:
        sf.comment_hash += 1
        return _parse_eol_comment(sf)
    sf.current.assign_char(T_OPERATOR, sf.pos, "#")
    return sf.pos + 1


def _parse_dash(sf: State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    nxt = s[pos + 1] if pos + 1 < slen else ""
    if pos + 2 < slen and nxt == "-" and s[pos + 2] in WHITE:
        return _parse_eol_comment(sf)
    if pos + 2 == slen and nxt == "-":
        return _parse_eol_comment(sf)
    if nxt == "-" and sf.flags & SQL_ANSI:
        sf.comment_ddx += 1
        return _parse_eol_comment(sf)
    sf.current.assign_char(T_OPERATOR, pos, "-")
    return pos + 1


def _parse_slash(sf: State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    if pos + 1 == slen or s[pos + 1] != "*":
        return _parse_operator1(sf)
    end = s.find("*/", pos + 2)
    clen = slen - pos if end < 0 else end + 2 - pos
    ctype = T_COMMENT
    if end >= 0 and s.find("/*", pos + 2, end + 1) >= 0:
        ctype = T_EVIL  # nested comment start: parsers disagree
    elif pos + 2 < slen and s[pos + 2] == "!":
        ctype = T_EVIL  # MySQL executable comment /*! ... */
    sf.current.assign(ctype, pos, clen, s, pos)
    return pos + clen


def _parse_backslash(sf: State) -> int:
    s, pos = sf.s, sf.pos
    if pos + 1 < sf.slen and s[pos + 1] == "N":
        sf.current.assign(T_NUMBER, pos, 2, s, pos)
        return pos + 2
    sf.current.assign_char(T_BACKSLASH, pos, "\\")
    return pos + 1


def _parse_operator2(sf: State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    if pos + 1 >= slen:
        return _parse_operator1(sf)
    if s.startswith("<=>", pos):
        sf.current.assign(T_OPERATOR, pos, 3, s, pos)
        return pos + 3
    ch = lookup(s[pos : pos + 2])
    if ch:
        sf.current.assign(ch, pos, 2, s, pos)
        return pos + 2
    if s[pos] == ":":
        sf.current.assign(T_COLON, pos, 1, s, pos)
        return pos + 1
    return _parse_operator1(sf)


def _parse_bword(sf: State) -> int:
    s, pos = sf.s, sf.pos
    end = s.find("]", pos)
    if end < 0:
        sf.current.assign(T_BAREWORD, pos, sf.slen - pos, s, pos)
        return sf.slen
    sf.current.assign(T_BAREWORD, pos, end - pos + 1, s, pos)
    return end + 1


def _parse_number(sf: State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    cur = sf.current
    if s[pos] == "0" and pos + 1 < slen and s[pos + 1] in "xXbB":
        digits = HEX_RUN if s[pos + 1] in "xX" else BIN_RUN
        m = digits.match(s, pos + 2)
        xlen = (m.end() - pos - 2) if m else 0
        if xlen == 0:
            cur.assign(T_BAREWORD, pos, 2, s, pos)
            return pos + 2
        cur.assign(T_NUMBER, pos, 2 + xlen, s, pos)
        return pos + 2 + xlen
    start = pos
    m = _DIGITS.match(s, pos)
    pos = m.end() if m else pos
    if pos < slen and s[pos] == ".":
        m = _DIGITS.match(s, pos + 1)
        pos = m.end() if m else pos + 1
        if pos - start == 1:
            cur.assign_char(T_DOT, start, ".")
            return pos
    have_e = have_exp = False
    if pos < slen and s[pos] in "eE":
        have_e = True
        pos += 1
        if pos < slen and s[pos] in "+-":
            pos += 1
        m = _DIGITS.match(s, pos)
        if m and m.end() > pos:
            have_exp = True
            pos = m.end()
    if pos < slen and s[pos] in "dDfF":
        if pos + 1 == slen or s[pos + 1] in WHITE or s[pos + 1] in ";uU":
            pos += 1
    typ = T_BAREWORD if have_e and not have_exp else T_NUMBER
    cur.assign(typ, start, pos - start, s, start)
    return pos


_Parser = Callable[[State], int]


def _char_map() -> list[_Parser]:
    cmap: list[_Parser] = [parse_word] * 256
    for i in range(33):
        cmap[i] = _parse_white
    cmap[127] = cmap[160] = _parse_white
    special: dict[str, _Parser] = {
        "!": _parse_operator2,
        '"': parse_string,
        "#": _parse_hash,
        "$": parse_money,
        "%": _parse_operator1,
        "&": _parse_operator2,
        "'": parse_string,
        "(": _parse_char,
        ")": _parse_char,
        "*": _parse_operator2,
        "+": _parse_operator1,
        ",": _parse_char,
        "-": _parse_dash,
        ".": _parse_number,
        "/": _parse_slash,
        ":": _parse_operator2,
        ";": _parse_char,
        "<": _parse_operator2,
        "=": _parse_operator2,
        ">": _parse_operator2,
        "?": _parse_other,
        "@": parse_var,
        "B": parse_bstring,
        "b": parse_bstring,
        "E": parse_estring,
        "e": parse_estring,
        "N": parse_nqstring,
        "n": parse_nqstring,
        "Q": parse_qstring,
        "q": parse_qstring,
        "U": parse_ustring,
        "u": parse_ustring,
        "X": parse_xstring,
        "x": parse_xstring,
        "[": _parse_bword,
        "\\": _parse_backslash,
        "]": _parse_other,
        "^": _parse_operator1,
        "`": parse_tick,
        "{": _parse_char,
        "|": _parse_operator2,
        "}": _parse_char,
        "~": _parse_operator1,
    }
    for ch, fn in special.items():
        cmap[ord(ch)] = fn
    for d in "0123456789":
        cmap[ord(d)] = _parse_number
    return cmap


_CHAR_MAP = _char_map()


def tokenize(sf: State) -> bool:
    """Lex the next token into ``sf.current``; False at the end or past the per-pass cap."""
    s, slen = sf.s, sf.slen
    if slen == 0:
        return False
    cur = sf.current
    cur.clear()
    if sf.calls >= MAX_TOKENS_PER_PASS:
        return False
    sf.calls += 1
    if sf.pos == 0 and sf.flags & (QUOTE_SINGLE | QUOTE_DOUBLE):
        delim = "'" if sf.flags & QUOTE_SINGLE else '"'
        sf.pos = parse_string_core(s, slen, 0, cur, delim, 0)
        sf.tokens += 1
        return True
    cmap = _CHAR_MAP
    while sf.pos < slen:
        o = ord(s[sf.pos])
        sf.pos = (cmap[o] if o < 256 else parse_word)(sf)
        if cur.type:
            sf.tokens += 1
            return True
    return False
