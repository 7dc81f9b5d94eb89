"""SQL injection by token fingerprint: a pure-Python port of libinjection's SQLi detector.

libinjection (https://github.com/libinjection/libinjection, BSD 3-Clause, Copyright (c)
2012-2016 Nick Galbreath, 2021 LibInjection; ported from ``src/libinjection_sqli.c`` at
commit 85e252a) tokenizes a value as SQL, folds the tokens (``1+1`` -> ``1``, ``((`` -> ``(``,
``NOT IN`` -> one keyword, ...) into at most five token types (the *fingerprint*, e.g.
``s&1c`` for ``' or 1=1 --``), and looks the fingerprint up in a list learnt from real
attacks. The value is tried as it is, and as if it followed a single or a double quote.
The keyword table and the fingerprint list are data, in ``rules/sqli_keywords.tsv`` and
``rules/sqli_fingerprints.txt`` (licence in ``rules/LICENSE-libinjection.txt``).

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
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

__all__ = ["MAX_CHARS", "MAX_TOKENS_PER_PASS", "SqliResult", "detect_sqli", "fingerprints_of"]

#: Characters of a value that are analysed (URL-length scale; regex rules see everything).
MAX_CHARS = 8192
#: Tokenizer calls allowed per pass (the original stops after 5 folded tokens anyway).
MAX_TOKENS_PER_PASS = 128

_MAX_TOKENS = 5
_TOKEN_SIZE = 32

_QUOTE_NONE = 1
_QUOTE_SINGLE = 2
_QUOTE_DOUBLE = 4
_SQL_ANSI = 8
_SQL_MYSQL = 16

# token types (one character each, as in the C source)
T_KEYWORD = "k"
T_UNION = "U"
T_GROUP = "B"
T_EXPRESSION = "E"
T_SQLTYPE = "t"
T_FUNCTION = "f"
T_BAREWORD = "n"
T_NUMBER = "1"
T_VARIABLE = "v"
T_STRING = "s"
T_OPERATOR = "o"
T_LOGIC = "&"
T_COMMENT = "c"
T_COLLATE = "A"
T_LEFTPARENS = "("
T_RIGHTPARENS = ")"
T_LEFTBRACE = "{"
T_RIGHTBRACE = "}"
T_DOT = "."
T_COMMA = ","
T_COLON = ":"
T_SEMICOLON = ";"
T_TSQL = "T"
T_UNKNOWN = "?"
T_EVIL = "X"
T_BACKSLASH = "\\"

_WHITE = " \t\n\v\f\r\xa0\x00"
_WHITE_RUN = re.compile(r"[\x00-\x20\x7f\xa0]+")
_WORD_RUN = re.compile(r"[^ \[\]{}<>:\\?=@!#~+\-*/&|^%(),';\t\n\v\f\r\"\xa0\x00]*")
_VAR_RUN = re.compile(r"[^ <>:\\?=@!#~+\-*/&|^%(),';\t\n\v\f\r'`\"]*")
_DIGITS = re.compile(r"[0-9]*")
_HEX = re.compile(r"[0-9A-Fa-f]*")
_BIN = re.compile(r"[01]*")
_MONEY_NUM = re.compile(r"[0-9.,]*")
_ALPHA = re.compile(r"[A-Za-z]*")
_MERGEABLE_A = frozenset("knoUfETt")
_MERGEABLE_B = frozenset("knoUfETt&")
_AS_FUNCTION = frozenset(
    {
        "USER_ID",
        "USER_NAME",
        "DATABASE",
        "PASSWORD",
        "USER",
        "CURRENT_USER",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "LOCALTIME",
        "LOCALTIMESTAMP",
    }
)


def _data_lines(name: str) -> list[str]:
    text = (resources.files("sluice.sanitize") / "rules" / name).read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def _keywords() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _data_lines("sqli_keywords.tsv"):
        word, _, typ = line.partition("\t")
        out[word] = typ
    return out


@functools.cache
def _fingerprints() -> frozenset[str]:
    # As in the C table: fingerprints are compared upper-cased.
    return frozenset(fp.upper() for fp in _data_lines("sqli_fingerprints.txt"))


class _Token:
    __slots__ = ("count", "len", "pos", "str_close", "str_open", "type", "val")

    def __init__(self) -> None:
        self.type = ""
        self.pos = 0
        self.len = 0
        self.val = ""
        self.str_open = ""
        self.str_close = ""
        self.count = 0

    def clear(self) -> None:
        self.type = ""
        self.pos = 0
        self.len = 0
        self.val = ""
        self.str_open = ""
        self.str_close = ""
        self.count = 0

    def assign(self, typ: str, pos: int, length: int, s: str, start: int) -> None:
        last = length if length < _TOKEN_SIZE else _TOKEN_SIZE - 1
        self.type = typ
        self.pos = pos
        self.len = last
        self.val = s[start : start + last]

    def assign_char(self, typ: str, pos: int, ch: str) -> None:
        self.type = typ
        self.pos = pos
        self.len = 1
        self.val = ch

    def copy_from(self, o: _Token) -> None:
        self.type = o.type
        self.pos = o.pos
        self.len = o.len
        self.val = o.val
        self.str_open = o.str_open
        self.str_close = o.str_close
        self.count = o.count


def _lookup(word: str) -> str:
    return _keywords().get(word.upper(), "")


def _is_unary(t: _Token) -> bool:
    if t.type != T_OPERATOR:
        return False
    if t.len == 1:
        return t.val in ("+", "-", "!", "~")
    if t.len == 2:
        return t.val == "!!"
    if t.len == 3:
        return t.val.upper() == "NOT"
    return False


def _is_arith(t: _Token) -> bool:
    return t.type == T_OPERATOR and t.len == 1 and t.val in ("*", "/", "-", "+", "%")


class _State:
    __slots__ = (
        "calls",
        "comment_ddx",
        "comment_hash",
        "current",
        "flags",
        "pos",
        "s",
        "slen",
        "tokens",
        "tokenvec",
    )

    def __init__(self, s: str) -> None:
        self.s = s
        self.slen = len(s)
        self.tokenvec = [_Token() for _ in range(8)]
        self.reset(_QUOTE_NONE | _SQL_ANSI)

    def reset(self, flags: int) -> None:
        self.flags = flags
        self.pos = 0
        for t in self.tokenvec:
            t.clear()
        self.current = self.tokenvec[0]
        self.comment_ddx = 0
        self.comment_hash = 0
        self.tokens = 0
        self.calls = 0


# -- parsers: each takes the state, fills state.current, returns the next position ----------


def _parse_white(sf: _State) -> int:
    m = _WHITE_RUN.match(sf.s, sf.pos)
    return m.end() if m else sf.pos + 1


def _parse_operator1(sf: _State) -> int:
    sf.current.assign_char(T_OPERATOR, sf.pos, sf.s[sf.pos])
    return sf.pos + 1


def _parse_other(sf: _State) -> int:
    sf.current.assign_char(T_UNKNOWN, sf.pos, sf.s[sf.pos])
    return sf.pos + 1


def _parse_char(sf: _State) -> int:
    ch = sf.s[sf.pos]
    sf.current.assign_char(ch, sf.pos, ch)
    return sf.pos + 1


def _parse_eol_comment(sf: _State) -> int:
    s, pos = sf.s, sf.pos
    end = s.find("\n", pos)
    if end < 0:
        sf.current.assign(T_COMMENT, pos, sf.slen - pos, s, pos)
        return sf.slen
    sf.current.assign(T_COMMENT, pos, end - pos, s, pos)
    return end + 1


def _parse_hash(sf: _State) -> int:
    sf.comment_hash += 1
    if sf.flags & _SQL_MYSQL:
        sf.comment_hash += 1
        return _parse_eol_comment(sf)
    sf.current.assign_char(T_OPERATOR, sf.pos, "#")
    return sf.pos + 1


def _parse_dash(sf: _State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    nxt = s[pos + 1] if pos + 1 < slen else ""
    if pos + 2 < slen and nxt == "-" and s[pos + 2] in _WHITE:
        return _parse_eol_comment(sf)
    if pos + 2 == slen and nxt == "-":
        return _parse_eol_comment(sf)
    if nxt == "-" and sf.flags & _SQL_ANSI:
        sf.comment_ddx += 1
        return _parse_eol_comment(sf)
    sf.current.assign_char(T_OPERATOR, pos, "-")
    return pos + 1


def _parse_slash(sf: _State) -> int:
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


def _parse_backslash(sf: _State) -> int:
    s, pos = sf.s, sf.pos
    if pos + 1 < sf.slen and s[pos + 1] == "N":
        sf.current.assign(T_NUMBER, pos, 2, s, pos)
        return pos + 2
    sf.current.assign_char(T_BACKSLASH, pos, "\\")
    return pos + 1


def _parse_operator2(sf: _State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    if pos + 1 >= slen:
        return _parse_operator1(sf)
    if s.startswith("<=>", pos):
        sf.current.assign(T_OPERATOR, pos, 3, s, pos)
        return pos + 3
    ch = _lookup(s[pos : pos + 2])
    if ch:
        sf.current.assign(ch, pos, 2, s, pos)
        return pos + 2
    if s[pos] == ":":
        sf.current.assign(T_COLON, pos, 1, s, pos)
        return pos + 1
    return _parse_operator1(sf)


#: String bodies per delimiter: a backslash escapes the next character and a doubled
#: delimiter is content, exactly as libinjection's ``parse_string_core`` (odd run of
#: backslashes before a quote, then ``''``); one linear regex match instead of a loop.
_STRING_BODY = {
    d: re.compile(r"(?:[^" + re.escape(d) + r"\\]|\\[\s\S]|" + re.escape(d * 2) + ")*")
    for d in ("'", '"', "`")
}


def _parse_string_core(s: str, slen: int, pos: int, st: _Token, delim: str, offset: int) -> int:
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


def _parse_string(sf: _State) -> int:
    return _parse_string_core(sf.s, sf.slen, sf.pos, sf.current, sf.s[sf.pos], 1)


def _parse_estring(sf: _State) -> int:
    s, pos = sf.s, sf.pos
    if pos + 2 >= sf.slen or s[pos + 1] != "'":
        return _parse_word(sf)
    return _parse_string_core(s, sf.slen, pos, sf.current, "'", 2)


def _parse_ustring(sf: _State) -> int:
    s, pos = sf.s, sf.pos
    if pos + 2 < sf.slen and s[pos + 1] == "&" and s[pos + 2] == "'":
        sf.pos += 2
        nxt = _parse_string(sf)
        sf.current.str_open = "u"
        if sf.current.str_close == "'":
            sf.current.str_close = "u"
        return nxt
    return _parse_word(sf)


_QCLOSE = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _parse_qstring_core(sf: _State, offset: int) -> int:
    s, slen = sf.s, sf.slen
    pos = sf.pos + offset
    if pos >= slen or s[pos] not in "qQ" or pos + 2 >= slen or s[pos + 1] != "'":
        return _parse_word(sf)
    ch = s[pos + 2]
    if ord(ch) < 33 or ord(ch) > 127:  # C char is signed: >127 is negative
        return _parse_word(sf)
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


def _parse_qstring(sf: _State) -> int:
    return _parse_qstring_core(sf, 0)


def _parse_nqstring(sf: _State) -> int:
    if sf.pos + 2 < sf.slen and sf.s[sf.pos + 1] == "'":
        return _parse_estring(sf)
    return _parse_qstring_core(sf, 1)


def _parse_xbstring(sf: _State, digits: re.Pattern[str]) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    if pos + 2 >= slen or s[pos + 1] != "'":
        return _parse_word(sf)
    m = digits.match(s, pos + 2)
    wlen = m.end() - (pos + 2) if m else 0
    if pos + 2 + wlen >= slen or s[pos + 2 + wlen] != "'":
        return _parse_word(sf)
    sf.current.assign(T_NUMBER, pos, wlen + 3, s, pos)
    return pos + 2 + wlen + 1


def _parse_bstring(sf: _State) -> int:
    return _parse_xbstring(sf, _BIN)


def _parse_xstring(sf: _State) -> int:
    return _parse_xbstring(sf, _HEX)


def _parse_bword(sf: _State) -> int:
    s, pos = sf.s, sf.pos
    end = s.find("]", pos)
    if end < 0:
        sf.current.assign(T_BAREWORD, pos, sf.slen - pos, s, pos)
        return sf.slen
    sf.current.assign(T_BAREWORD, pos, end - pos + 1, s, pos)
    return end + 1


def _parse_word(sf: _State) -> int:
    s, pos = sf.s, sf.pos
    m = _WORD_RUN.match(s, pos)
    wlen = (m.end() - pos) if m else 0
    cur = sf.current
    cur.assign(T_BAREWORD, pos, wlen, s, pos)
    val = cur.val
    for i in range(cur.len):
        if val[i] in ".`":
            ch = _lookup(val[:i])
            if ch and ch != T_BAREWORD:
                cur.clear()
                cur.assign(ch, pos, i, s, pos)
                return pos + i
    if wlen < _TOKEN_SIZE:
        cur.type = _lookup(val) or T_BAREWORD
    return pos + wlen


def _parse_tick(sf: _State) -> int:
    nxt = _parse_string_core(sf.s, sf.slen, sf.pos, sf.current, "`", 1)
    cur = sf.current
    cur.type = T_FUNCTION if _lookup(cur.val) == T_FUNCTION else T_BAREWORD
    return nxt


def _parse_var(sf: _State) -> int:
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
            nxt = _parse_tick(sf)
            cur.type = T_VARIABLE
            return nxt
        if s[pos] in "'\"":
            sf.pos = pos
            nxt = _parse_string(sf)
            cur.type = T_VARIABLE
            return nxt
    m = _VAR_RUN.match(s, pos)
    xlen = (m.end() - pos) if m else 0
    cur.assign(T_VARIABLE, pos, xlen, s, pos)
    return pos + xlen


def _parse_money(sf: _State) -> int:
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
        return _parse_word(sf)
    cur.assign(T_NUMBER, pos, 1 + xlen, s, pos)
    return pos + 1 + xlen


def _parse_number(sf: _State) -> int:
    s, slen, pos = sf.s, sf.slen, sf.pos
    cur = sf.current
    if s[pos] == "0" and pos + 1 < slen and s[pos + 1] in "xXbB":
        digits = _HEX if s[pos + 1] in "xX" else _BIN
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
        if pos + 1 == slen or s[pos + 1] in _WHITE or s[pos + 1] in ";uU":
            pos += 1
    typ = T_BAREWORD if have_e and not have_exp else T_NUMBER
    cur.assign(typ, start, pos - start, s, start)
    return pos


_Parser = Callable[[_State], int]


def _char_map() -> list[_Parser]:
    cmap: list[_Parser] = [_parse_word] * 256
    for i in range(33):
        cmap[i] = _parse_white
    cmap[127] = cmap[160] = _parse_white
    special: dict[str, _Parser] = {
        "!": _parse_operator2,
        '"': _parse_string,
        "#": _parse_hash,
        "$": _parse_money,
        "%": _parse_operator1,
        "&": _parse_operator2,
        "'": _parse_string,
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
        "@": _parse_var,
        "B": _parse_bstring,
        "b": _parse_bstring,
        "E": _parse_estring,
        "e": _parse_estring,
        "N": _parse_nqstring,
        "n": _parse_nqstring,
        "Q": _parse_qstring,
        "q": _parse_qstring,
        "U": _parse_ustring,
        "u": _parse_ustring,
        "X": _parse_xstring,
        "x": _parse_xstring,
        "[": _parse_bword,
        "\\": _parse_backslash,
        "]": _parse_other,
        "^": _parse_operator1,
        "`": _parse_tick,
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


def _tokenize(sf: _State) -> bool:
    s, slen = sf.s, sf.slen
    if slen == 0:
        return False
    cur = sf.current
    cur.clear()
    if sf.calls >= MAX_TOKENS_PER_PASS:
        return False
    sf.calls += 1
    if sf.pos == 0 and sf.flags & (_QUOTE_SINGLE | _QUOTE_DOUBLE):
        delim = "'" if sf.flags & _QUOTE_SINGLE else '"'
        sf.pos = _parse_string_core(s, slen, 0, cur, delim, 0)
        sf.tokens += 1
        return True
    cmap = _CHAR_MAP
    while sf.pos < slen:
        o = ord(s[sf.pos])
        sf.pos = (cmap[o] if o < 256 else _parse_word)(sf)
        if cur.type:
            sf.tokens += 1
            return True
    return False


def _merge_words(a: _Token, b: _Token) -> bool:
    if a.type not in _MERGEABLE_A or b.type not in _MERGEABLE_B:
        return False
    if a.len + b.len + 1 >= _TOKEN_SIZE:
        return False
    merged = a.val + " " + b.val
    ch = _lookup(merged)
    if not ch:
        return False
    a.assign(ch, a.pos, len(merged), merged, 0)
    return True


def _fold(sf: _State) -> int:
    """libinjection_sqli_fold, statement for statement (the fingerprint depends on it)."""
    tv = sf.tokenvec
    last_comment = _Token()
    pos = 0
    left = 0
    more = True
    sf.current = tv[0]
    while more:
        more = _tokenize(sf)
        c = sf.current
        if not (c.type in (T_COMMENT, T_LEFTPARENS, T_SQLTYPE) or _is_unary(c)):
            break
    if not more:
        return 0
    pos += 1
    while True:
        if pos >= _MAX_TOKENS:
            t = [tv[i].type for i in range(5)]
            if (
                (
                    t[0] == T_NUMBER
                    and t[1] in (T_OPERATOR, T_COMMA)
                    and t[2] == T_LEFTPARENS
                    and t[3] == T_NUMBER
                    and t[4] == T_RIGHTPARENS
                )
                or (
                    t[0] == T_BAREWORD
                    and t[1] == T_OPERATOR
                    and t[2] == T_LEFTPARENS
                    and t[3] in (T_BAREWORD, T_NUMBER)
                    and t[4] == T_RIGHTPARENS
                )
                or (
                    t[0] == T_NUMBER
                    and t[1] == T_RIGHTPARENS
                    and t[2] == T_COMMA
                    and t[3] == T_LEFTPARENS
                    and t[4] == T_NUMBER
                )
                or (
                    t[0] == T_BAREWORD
                    and t[1] == T_RIGHTPARENS
                    and t[2] == T_OPERATOR
                    and t[3] == T_LEFTPARENS
                    and t[4] == T_BAREWORD
                )
            ):
                if pos > _MAX_TOKENS:
                    tv[1].copy_from(tv[_MAX_TOKENS])
                    pos = 2
                    left = 0
                else:
                    pos = 1
                    left = 0
        if not more or left >= _MAX_TOKENS:
            left = pos
            break
        # get up to two tokens
        while more and pos <= _MAX_TOKENS and (pos - left) < 2:
            sf.current = tv[pos]
            more = _tokenize(sf)
            if more:
                if sf.current.type == T_COMMENT:
                    last_comment.copy_from(sf.current)
                else:
                    last_comment.type = ""
                    pos += 1
        if pos - left < 2:
            left = pos
            continue
        a, b = tv[left], tv[left + 1]
        if a.type == T_STRING and b.type == T_STRING:
            pos -= 1
            continue
        if a.type == T_SEMICOLON and b.type == T_SEMICOLON:
            pos -= 1
            continue
        if a.type in (T_OPERATOR, T_LOGIC) and (_is_unary(b) or b.type == T_SQLTYPE):
            pos -= 1
            left = 0
            continue
        if a.type == T_LEFTPARENS and _is_unary(b):
            pos -= 1
            if left > 0:
                left -= 1
            continue
        if _merge_words(a, b):
            pos -= 1
            if left > 0:
                left -= 1
            continue
        if a.type == T_SEMICOLON and b.type == T_FUNCTION and b.val[:2].upper() == "IF":
            b.type = T_TSQL
            continue
        if (
            a.type in (T_BAREWORD, T_VARIABLE)
            and b.type == T_LEFTPARENS
            and a.val.upper() in _AS_FUNCTION
        ):
            a.type = T_FUNCTION
            continue
        if a.type == T_KEYWORD and a.val.upper() in ("IN", "NOT IN"):
            a.type = T_OPERATOR if b.type == T_LEFTPARENS else T_BAREWORD
            continue
        if a.type == T_OPERATOR and a.val.upper() in ("LIKE", "NOT LIKE"):
            if b.type == T_LEFTPARENS:
                a.type = T_FUNCTION
        elif a.type == T_SQLTYPE and b.type in (
            T_BAREWORD,
            T_NUMBER,
            T_SQLTYPE,
            T_LEFTPARENS,
            T_FUNCTION,
            T_VARIABLE,
            T_STRING,
        ):
            a.copy_from(b)
            pos -= 1
            left = 0
            continue
        elif a.type == T_COLLATE and b.type == T_BAREWORD:
            if "_" in b.val:
                b.type = T_SQLTYPE
                left = 0
        elif a.type == T_BACKSLASH:
            if _is_arith(b):
                a.type = T_NUMBER
            else:
                a.copy_from(b)
                pos -= 1
            left = 0
            continue
        elif a.type == T_LEFTPARENS and b.type == T_LEFTPARENS:
            pos -= 1
            left = 0
            continue
        elif a.type == T_RIGHTPARENS and b.type == T_RIGHTPARENS:
            pos -= 1
            left = 0
            continue
        elif a.type == T_LEFTBRACE and b.type == T_BAREWORD:
            if b.len == 0:
                b.type = T_EVIL
                return left + 2
            left = 0
            pos -= 2
            continue
        elif b.type == T_RIGHTBRACE:
            pos -= 1
            left = 0
            continue
        # nothing matched on two tokens: get a third
        while more and pos <= _MAX_TOKENS and pos - left < 3:
            sf.current = tv[pos]
            more = _tokenize(sf)
            if more:
                if sf.current.type == T_COMMENT:
                    last_comment.copy_from(sf.current)
                else:
                    last_comment.type = ""
                    pos += 1
        if pos - left < 3:
            left = pos
            continue
        a, b, c = tv[left], tv[left + 1], tv[left + 2]
        if a.type == T_NUMBER and b.type == T_OPERATOR and c.type == T_NUMBER:
            pos -= 2
            left = 0
            continue
        if a.type == T_OPERATOR and b.type != T_LEFTPARENS and c.type == T_OPERATOR:
            left = 0
            pos -= 2
            continue
        if a.type == T_LOGIC and c.type == T_LOGIC:
            pos -= 2
            left = 0
            continue
        if (
            a.type == T_VARIABLE
            and b.type == T_OPERATOR
            and c.type in (T_VARIABLE, T_NUMBER, T_BAREWORD)
        ):
            pos -= 2
            left = 0
            continue
        if (
            a.type in (T_BAREWORD, T_NUMBER)
            and b.type == T_OPERATOR
            and c.type in (T_NUMBER, T_BAREWORD)
        ):
            pos -= 2
            left = 0
            continue
        if (
            a.type in (T_BAREWORD, T_NUMBER, T_VARIABLE, T_STRING)
            and b.type == T_OPERATOR
            and b.val == "::"
            and c.type == T_SQLTYPE
        ):
            pos -= 2
            left = 0
            continue
        if (
            a.type in (T_BAREWORD, T_NUMBER, T_STRING, T_VARIABLE)
            and b.type == T_COMMA
            and c.type in (T_NUMBER, T_BAREWORD, T_STRING, T_VARIABLE)
        ):
            pos -= 2
            left = 0
            continue
        if a.type in (T_EXPRESSION, T_GROUP, T_COMMA) and _is_unary(b) and c.type == T_LEFTPARENS:
            b.copy_from(c)
            pos -= 1
            left = 0
            continue
        if (
            a.type in (T_KEYWORD, T_EXPRESSION, T_GROUP)
            and _is_unary(b)
            and c.type in (T_NUMBER, T_BAREWORD, T_VARIABLE, T_STRING, T_FUNCTION)
        ):
            b.copy_from(c)
            pos -= 1
            left = 0
            continue
        if (
            a.type == T_COMMA
            and _is_unary(b)
            and c.type in (T_NUMBER, T_BAREWORD, T_VARIABLE, T_STRING)
        ):
            b.copy_from(c)
            left = 0
            pos -= 3
            continue
        if a.type == T_COMMA and _is_unary(b) and c.type == T_FUNCTION:
            b.copy_from(c)
            pos -= 1
            left = 0
            continue
        if a.type == T_BAREWORD and b.type == T_DOT and c.type == T_BAREWORD:
            pos -= 2
            left = 0
            continue
        if a.type == T_EXPRESSION and b.type == T_DOT and c.type == T_BAREWORD:
            b.copy_from(c)
            pos -= 1
            left = 0
            continue
        if a.type == T_FUNCTION and b.type == T_LEFTPARENS and c.type != T_RIGHTPARENS:
            if a.val.upper() == "USER":
                a.type = T_BAREWORD
        left += 1
    if left < _MAX_TOKENS and last_comment.type == T_COMMENT:
        tv[left].copy_from(last_comment)
        left += 1
    return min(left, _MAX_TOKENS)


def _fingerprint(sf: _State, flags: int) -> str:
    sf.reset(flags)
    tlen = _fold(sf)
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


def _not_whitelisted(sf: _State, fp: str) -> bool:
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


def _sluice_benign(sf: _State, fp: str) -> bool:
    """Look-alikes of real query-string values that libinjection flags (sluice's addition).

    - ``sos``/``s&s`` in prose (the strings hold a space) whose middle token is itself
      quoted and is a word, or sits between two non-empty strings (``SMALL "&" SIGN``,
      ``BROWNING "LIKE"``): a quoted word, not an operator (``'&'``, ``1'||'asd'`` stay);
    - a two-token fingerprint ending in a ``--`` comment glued to a letter
      (``1611-IioXXIG1ti8rspL2vbXFy--``: an id, not a number followed by a comment);
    - ``nc`` where the comment is a bare unterminated ``/*`` at the end (``x/*``).
    """
    tv, s, n = sf.tokenvec, sf.s, sf.slen
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


def _check(sf: _State, flags: int) -> str | None:
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


@functools.lru_cache(maxsize=1024)
def _detect_prefix(s: str) -> SqliResult | None:
    sf = _State(s)
    fp = _check(sf, _QUOTE_NONE | _SQL_ANSI)
    if fp:
        return SqliResult(fp, "")
    if sf.comment_ddx or sf.comment_hash:
        fp = _check(sf, _QUOTE_NONE | _SQL_MYSQL)
        if fp:
            return SqliResult(fp, "")
    if "'" in s:
        fp = _check(sf, _QUOTE_SINGLE | _SQL_ANSI)
        if fp:
            return SqliResult(fp, "'")
        if sf.comment_ddx or sf.comment_hash:
            fp = _check(sf, _QUOTE_SINGLE | _SQL_MYSQL)
            if fp:
                return SqliResult(fp, "'")
    if '"' in s:
        fp = _check(sf, _QUOTE_DOUBLE | _SQL_MYSQL)
        if fp:
            return SqliResult(fp, '"')
    return None


def fingerprints_of(value: str) -> list[str]:
    """The fingerprints of ``value`` as is, after ``'`` and after ``"`` (for debugging)."""
    s = value[:MAX_CHARS]
    sf = _State(s)
    return [
        _fingerprint(sf, _QUOTE_NONE | _SQL_ANSI),
        _fingerprint(sf, _QUOTE_SINGLE | _SQL_ANSI),
        _fingerprint(sf, _QUOTE_DOUBLE | _SQL_MYSQL),
    ]
