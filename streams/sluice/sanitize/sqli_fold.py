"""Folding of the libinjection port: tokens reduced to at most five (the fingerprint's).

``fold`` is ``libinjection_sqli_fold`` statement for statement (``src/libinjection_sqli.c``,
BSD 3-Clause, see :mod:`sluice.sanitize.sqli_fingerprint`): it pulls tokens from the
tokenizer and merges them (``1+1`` -> ``1``, ``((`` -> ``(``, ``NOT IN`` -> one keyword,
``-1`` -> ``1``, ...) until five are left or the value ends. The fingerprint depends on
every branch, so none is simplified.
"""

from __future__ import annotations

from sluice.sanitize.sqli_lexer import tokenize
from sluice.sanitize.sqli_tokens import (
    MAX_TOKENS,
    T_BACKSLASH,
    T_BAREWORD,
    T_COLLATE,
    T_COMMA,
    T_COMMENT,
    T_DOT,
    T_EVIL,
    T_EXPRESSION,
    T_FUNCTION,
    T_GROUP,
    T_KEYWORD,
    T_LEFTBRACE,
    T_LEFTPARENS,
    T_LOGIC,
    T_NUMBER,
    T_OPERATOR,
    T_RIGHTBRACE,
    T_RIGHTPARENS,
    T_SEMICOLON,
    T_SQLTYPE,
    T_STRING,
    T_TSQL,
    T_VARIABLE,
    TOKEN_SIZE,
    State,
    Token,
    is_arith,
    is_unary,
    lookup,
)

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


def _merge_words(a: Token, b: Token) -> bool:
    if a.type not in _MERGEABLE_A or b.type not in _MERGEABLE_B:
        return False
    if a.len + b.len + 1 >= TOKEN_SIZE:
        return False
    merged = a.val + " " + b.val
    ch = lookup(merged)
    if not ch:
        return False
    a.assign(ch, a.pos, len(merged), merged, 0)
    return True


def fold(sf: State) -> int:
    """libinjection_sqli_fold, statement for statement (the fingerprint depends on it)."""
    tv = sf.tokenvec
    last_comment = Token()
    pos = 0
    left = 0
    more = True
    sf.current = tv[0]
    while more:
        more = tokenize(sf)
        c = sf.current
        if not (c.type in (T_COMMENT, T_LEFTPARENS, T_SQLTYPE) or is_unary(c)):
            break
    if not more:
        return 0
    pos += 1
    while True:
        if pos >= MAX_TOKENS:
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
                if pos > MAX_TOKENS:
                    tv[1].copy_from(tv[MAX_TOKENS])
                    pos = 2
                    left = 0
                else:
                    pos = 1
                    left = 0
        if not more or left >= MAX_TOKENS:
            left = pos
            break
        # get up to two tokens
        while more and pos <= MAX_TOKENS and (pos - left) < 2:
            sf.current = tv[pos]
            more = tokenize(sf)
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
        if a.type in (T_OPERATOR, T_LOGIC) and (is_unary(b) or b.type == T_SQLTYPE):
            pos -= 1
            left = 0
            continue
        if a.type == T_LEFTPARENS and is_unary(b):
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
            if is_arith(b):
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
        while more and pos <= MAX_TOKENS and pos - left < 3:
            sf.current = tv[pos]
            more = tokenize(sf)
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
        if a.type in (T_EXPRESSION, T_GROUP, T_COMMA) and is_unary(b) and c.type == T_LEFTPARENS:
            b.copy_from(c)
            pos -= 1
            left = 0
            continue
        if (
            a.type in (T_KEYWORD, T_EXPRESSION, T_GROUP)
            and is_unary(b)
            and c.type in (T_NUMBER, T_BAREWORD, T_VARIABLE, T_STRING, T_FUNCTION)
        ):
            b.copy_from(c)
            pos -= 1
            left = 0
            continue
        if (
            a.type == T_COMMA
            and is_unary(b)
            and c.type in (T_NUMBER, T_BAREWORD, T_VARIABLE, T_STRING)
        ):
            b.copy_from(c)
            left = 0
            pos -= 3
            continue
        if a.type == T_COMMA and is_unary(b) and c.type == T_FUNCTION:
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
    if left < MAX_TOKENS and last_comment.type == T_COMMENT:
        tv[left].copy_from(last_comment)
        left += 1
    return min(left, MAX_TOKENS)
