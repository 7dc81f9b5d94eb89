"""Literals for the libinjection port's tokenizer: strings, prefixed strings, variables.

Quoted strings (``'...'``, ``"..."``, backticks), ``E'...'``, ``U&'...'``, Oracle's
``q'[...]'`` and ``N'...'``, ``X'..'``/``B'..'`` numbers, ``@``/``@@`` variables and ``$``
(money numbers and PostgreSQL ``$$``/``$tag$`` strings), each as libinjection's
``parse_*`` function of the same name (``src/libinjection_sqli.c``, BSD 3-Clause, see
:mod:`sluice.sanitize.sqli_fingerprint`). Each parser fills ``state.current`` and returns
the next position; a prefix that starts no literal is lexed as a word.
"""

from __future__ import annotations

import re

from sluice.sanitize.sqli_tokens import (
    BIN_RUN,
    HEX_RUN,
    T_BAREWORD,
    T_FUNCTION,
    T_NUMBER,
    T_STRING,
    T_VARIABLE,
    State,
    Token,
    lookup,
    parse_word,
)

_VAR_RUN = re.compile(r"[^ <>:\\?=@!#~+\-*/&|^%(),';\t\n\v\f\r'`\"]*")
_MONEY_NUM = re.compile(r"[0-9.,]*")
_ALPHA = re.compile(r"[A-Za-z]*")


#: String bodies per delimiter: a backslash escapes the next character and a doubled
#: delimiter is content, exactly as libinjection's ``parse_string_core`` (odd run of
#: backslashes before a quote, then ``''``); one linear regex match instead of a loop.
_STRING_BODY = {
    d: re.compile(r"(?:[^" + re.escape(d) + r"\\]|\\[\s\S]|" + re.escape(d * 2) + ")*")
    for d in ("'", '"', "`")
}


def parse_string_core(s: str, slen: int, pos: int, st: Token, delim: str, offset: int) -> int:
    """The string closed by ``delim`` that starts at ``pos + offset``, into ``st``."""
    start = pos + offset
    st.str_open = delim if offset > 0 else ""
    m = _STRING_BODY[delim].match(s, start)
    end = m.end() if m else start
    if end >= slen or s[end] != delim:  # no closing quote (maybe a trailing backslash)
        st.assign(T_STRING, start, slen - start, s, start)
        st.str_close = ""
        return slen
    st.assign(T_STRING, start, end - start, s, start)
    st.str_close = delim
    return end + 1


def parse_string(sf: State) -> int:
    return parse_string_core(sf.s, sf.slen, sf.pos, sf.current, sf.s[sf.pos], 1)


def parse_estring(sf: State) -> int:
    s, pos = sf.s, sf.pos
    if pos + 2 >= sf.slen or s[pos + 1] != "'":
        return parse_word(sf)
    return parse_string_core(s, sf.slen, pos, sf.current, "'", 2)


def parse_ustring(sf: State) -> int:
    s, pos = sf.s, sf.pos
    if pos + 2 < sf.slen and s[pos + 1] == "&" and s[pos + 2] == "'":
        sf.pos += 2
        nxt = parse_string(sf)
        sf.current.str_open = "u"
        if sf.current.str_close == "'":
            sf.current.str_close = "u"
        return nxt
    return parse_word(sf)


_QCLOSE = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _parse_qstring_core(sf: State, offset: int) -> int:
    s, slen = sf.s, sf.slen
    pos = sf.pos + offset
    if pos >= slen or s[pos] not in "qQ" or pos + 2 >= slen or s[pos + 1] != "'":
        return parse_word(sf)
    ch = s[pos + 2]
    if ord(ch) < 33 or ord(ch) > 127:  # C char is signed: >127 is negative
        return parse_word(sf)
    ch = _QCLOSE.get(ch, ch)
    end = s.find(ch + "'", pos + 3)
    cur = sf.current
    if end < 0:
        cur.assign(T_STRING, pos + 3, slen - pos - 3, s, pos + 3)
        cur.str_open = "q"
        cur.str_close = ""
        return slen
    cur.assign(T_STRING, pos + 3, end - pos - 3, s, pos + 3)
    cur.str_open = "q"
    cur.str_close = "q"
    return end + 2


def parse_qstring(sf: State) -> int:
    return _parse_qstring_core(sf, 0)


def parse_nqstring(sf: State) -> int:
    if sf.pos + 2 < sf.slen and sf.s[sf.pos + 1] == "'":
        return parse_estring(sf)
    return _parse_qstring_core(sf, 1)


def _parse_xbstring(sf: State, digits: re.Pattern[str]) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    if pos + 2 >= slen or s[pos + 1] != "'":
        return parse_word(sf)
    m = digits.match(s, pos + 2)
    wlen = m.end() - (pos + 2) if m else 0
    if pos + 2 + wlen >= slen or s[pos + 2 + wlen] != "'":
        return parse_word(sf)
    sf.current.assign(T_NUMBER, pos, wlen + 3, s, pos)
    return pos + 2 + wlen + 1


def parse_bstring(sf: State) -> int:
    return _parse_xbstring(sf, BIN_RUN)


def parse_xstring(sf: State) -> int:
    return _parse_xbstring(sf, HEX_RUN)


def parse_tick(sf: State) -> int:
    nxt = parse_string_core(sf.s, sf.slen, sf.pos, sf.current, "`", 1)
    cur = sf.current
    cur.type = T_FUNCTION if lookup(cur.val) == T_FUNCTION else T_BAREWORD
    return nxt


def parse_var(sf: State) -> int:
    s, slen = sf.s, sf.slen
    pos = sf.pos + 1
    cur = sf.current
    if pos < slen and s[pos] == "@":
        pos += 1
        cur.count = 2
    else:
        cur.count = 1
    if pos < slen:
        if s[pos] == "`":
            sf.pos = pos
            nxt = parse_tick(sf)
            cur.type = T_VARIABLE
            return nxt
        if s[pos] in "'\"":
            sf.pos = pos
            nxt = parse_string(sf)
            cur.type = T_VARIABLE
            return nxt
    m = _VAR_RUN.match(s, pos)
    xlen = (m.end() - pos) if m else 0
    cur.assign(T_VARIABLE, pos, xlen, s, pos)
    return pos + xlen


def parse_money(sf: State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    cur = sf.current
    if pos + 1 == slen:
        cur.assign_char(T_BAREWORD, pos, "$")
        return slen
    m = _MONEY_NUM.match(s, pos + 1)
    xlen = (m.end() - pos - 1) if m else 0
    if xlen == 0:
        if s[pos + 1] == "$":
            end = s.find("$$", pos + 2)
            if end < 0:
                cur.assign(T_STRING, pos + 2, slen - (pos + 2), s, pos + 2)
                cur.str_open = "$"
                cur.str_close = ""
                return slen
            cur.assign(T_STRING, pos + 2, end - (pos + 2), s, pos + 2)
            cur.str_open = "$"
            cur.str_close = "$"
            return end + 2
        m = _ALPHA.match(s, pos + 1)
        xlen = (m.end() - pos - 1) if m else 0
        if xlen == 0:
            cur.assign_char(T_BAREWORD, pos, "$")
            return pos + 1
        if pos + xlen + 1 == slen or s[pos + xlen + 1] != "$":
            cur.assign_char(T_BAREWORD, pos, "$")
            return pos + 1
        tag = s[pos : pos + xlen + 2]
        body = pos + xlen + 2
        end = s.find(tag, body)
        if end < 0:
            cur.assign(T_STRING, body, slen - body, s, body)
            cur.str_open = "$"
            cur.str_close = ""
            return slen
        cur.assign(T_STRING, body, end - body, s, body)
        cur.str_open = "$"
        cur.str_close = "$"
        return end + xlen + 2
    if xlen == 1 and s[pos + 1] == ".":
        return parse_word(sf)
    cur.assign(T_NUMBER, pos, 1 + xlen, s, pos)
    return pos + 1 + xlen
