"""Tokens of the libinjection port: token types, the tokenizer state, the keyword table.

Part of sluice's pure-Python port of libinjection's SQLi detector (see
:mod:`sluice.sanitize.sqli_fingerprint`; BSD 3-Clause, Copyright (c) 2012-2016 Nick
Galbreath, 2021 LibInjection, ported from ``src/libinjection_sqli.c`` at commit 85e252a).
The keyword table is data, ``rules/sqli_keywords.tsv`` (licence in
``rules/LICENSE-libinjection.txt``), read once on first use. Words are lexed here too,
since the keyword table is what classifies them (keyword, function, operator, bareword).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

#: Characters of a value that are analysed (URL-length scale; regex rules see everything).
MAX_CHARS = 8192
#: Tokenizer calls allowed per pass (the original stops after 5 folded tokens anyway).
MAX_TOKENS_PER_PASS = 128

#: Folded tokens in a fingerprint; characters kept of a token's text (C's token size).
MAX_TOKENS = 5
TOKEN_SIZE = 32

# tokenizer flags: the quote context a value is read in, and the comment dialect
QUOTE_NONE = 1
QUOTE_SINGLE = 2
QUOTE_DOUBLE = 4
SQL_ANSI = 8
SQL_MYSQL = 16

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

#: Characters that end a word or a number, as C's whitespace test.
WHITE = " \t\n\v\f\r\xa0\x00"
_WORD_RUN = re.compile(r"[^ \[\]{}<>:\\?=@!#~+\-*/&|^%(),';\t\n\v\f\r\"\xa0\x00]*")
HEX_RUN = re.compile(r"[0-9A-Fa-f]*")
BIN_RUN = re.compile(r"[01]*")


def data_lines(name: str) -> list[str]:
    """The lines of ``rules/<name>`` that are not blank or ``#`` comments."""
    text = (resources.files("sluice.sanitize") / "rules" / name).read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def keywords() -> dict[str, str]:
    """libinjection's keyword table: upper-case word -> token type (read once)."""
    out: dict[str, str] = {}
    for line in data_lines("sqli_keywords.tsv"):
        word, _, typ = line.partition("\t")
        out[word] = typ
    return out


class Token:
    """One token: type (``T_*``), position, text (at most ``TOKEN_SIZE - 1`` chars)."""

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
        last = length if length < TOKEN_SIZE else TOKEN_SIZE - 1
        self.type = typ
        self.pos = pos
        self.len = last
        self.val = s[start : start + last]

    def assign_char(self, typ: str, pos: int, ch: str) -> None:
        self.type = typ
        self.pos = pos
        self.len = 1
        self.val = ch

    def copy_from(self, o: Token) -> None:
        self.type = o.type
        self.pos = o.pos
        self.len = o.len
        self.val = o.val
        self.str_open = o.str_open
        self.str_close = o.str_close
        self.count = o.count


def lookup(word: str) -> str:
    """The token type of ``word`` in the keyword table, or ``""``."""
    return keywords().get(word.upper(), "")


def is_unary(t: Token) -> bool:
    if t.type != T_OPERATOR:
        return False
    if t.len == 1:
        return t.val in ("+", "-", "!", "~")
    if t.len == 2:
        return t.val == "!!"
    if t.len == 3:
        return t.val.upper() == "NOT"
    return False


def is_arith(t: Token) -> bool:
    return t.type == T_OPERATOR and t.len == 1 and t.val in ("*", "/", "-", "+", "%")


class State:
    """The tokenizer's state over one value: position, flags, the token vector."""

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
        self.tokenvec = [Token() for _ in range(8)]
        self.reset(QUOTE_NONE | SQL_ANSI)

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


def parse_word(sf: State) -> int:
    """A word, typed by the keyword table (``a.b`` splits when ``a`` is a keyword)."""
    s, pos = sf.s, sf.pos
    m = _WORD_RUN.match(s, pos)
    wlen = (m.end() - pos) if m else 0
    cur = sf.current
    cur.assign(T_BAREWORD, pos, wlen, s, pos)
    val = cur.val
    for i in range(cur.len):
        if val[i] in ".`":
            ch = lookup(val[:i])
            if ch and ch != T_BAREWORD:
                cur.clear()
                cur.assign(ch, pos, i, s, pos)
                return pos + i
    if wlen < TOKEN_SIZE:
        cur.type = lookup(val) or T_BAREWORD
    return pos + wlen
