"""A parser for the subset of CEL that :mod:`sluice.policy.fastpath` compiles to Python.

Anything outside the subset raises :class:`Unsupported` (the rule then runs in CEL
only). The AST is plain tuples:

``("lit", value)``, ``("id", name)``, ``("sel", obj, field)``, ``("idx", obj, key)``,
``("call", name, target | None, args)``, ``("list", items)``, ``("not", x)``,
``("neg", x)``, ``("bin", op, left, right)``, ``("and", l, r)``, ``("or", l, r)``,
``("cond", c, t, f)``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Unsupported", "kind_constraint", "parse"]


class Unsupported(Exception):
    """The source uses something outside the compiled subset."""


_TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*)
    |(?P<num>(?:\d+\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.]))
    |(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<id>[A-Za-z_]\w*)
    |(?P<op>&&|\|\||==|!=|<=|>=|[<>!+\-*?:.,()\[\]])
    """,
    re.VERBOSE,
)
_SIMPLE_ESC = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "`": "`",
    "?": "?",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_RESERVED = frozenset({"in", "as", "break", "const", "continue", "else", "for", "function"})
_RESERVED |= frozenset({"if", "import", "let", "loop", "package", "namespace", "return", "var"})
_RESERVED |= frozenset({"void", "while"})


def _unescape(body: str) -> str:
    """A CEL (non-raw) string literal's body as its value."""
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < n else ""
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
            i += 2
            continue
        width = {"x": 2, "X": 2, "u": 4, "U": 8}.get(e)
        if width is not None:
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise Unsupported("bad escape")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise Unsupported("bad code point")
            out.append(chr(code))
            i += 2 + width
            continue
        if e in "0123":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits):
                raise Unsupported("bad octal escape")
            out.append(chr(int(digits, 8)))
            i += 4
            continue
        raise Unsupported("unknown escape")
    return "".join(out)


def _tokens(source: str) -> list[tuple[str, Any]]:
    toks: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise Unsupported(f"unexpected character at {pos}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(0)
        if kind == "ws":
            continue
        if kind == "num":
            if "." in text or "e" in text or "E" in text:
                toks.append(("lit", float(text)))
            else:
                if len(text) > 1 and text[0] == "0":
                    raise Unsupported("leading zero")
                toks.append(("lit", int(text)))
        elif kind == "str":
            if toks and toks[-1][0] == "id" and toks[-1][1] in ("r", "R", "b", "B", "rb", "br"):
                raise Unsupported("raw or bytes literal")
            if text.startswith(('"""', "'''")):
                raise Unsupported("triple-quoted literal")
            toks.append(("lit", _unescape(text[1:-1])))
        elif kind == "id":
            if text in ("true", "false"):
                toks.append(("lit", text == "true"))
            elif text == "null":
                toks.append(("lit", None))
            elif text == "in":
                toks.append(("op", "in"))
            elif text in _RESERVED:
                raise Unsupported("reserved word")
            else:
                toks.append(("id", text))
        else:
            toks.append(("op", text))
    toks.append(("end", None))
    return toks


class _Parser:
    def __init__(self, source: str) -> None:
        self.toks = _tokens(source)
        self.i = 0

    def peek(self) -> tuple[str, Any]:
        return self.toks[self.i]

    def take(self, op: str | None = None) -> tuple[str, Any]:
        tok = self.toks[self.i]
        if op is not None and tok != ("op", op):
            raise Unsupported(f"expected {op!r}")
        self.i += 1
        return tok

    def at(self, op: str) -> bool:
        return self.toks[self.i] == ("op", op)

    def expr(self) -> Any:
        cond = self.or_()
        if self.at("?"):
            self.take()
            then = self.or_()
            self.take(":")
            return ("cond", cond, then, self.expr())
        return cond

    def or_(self) -> Any:
        node = self.and_()
        while self.at("||"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Any:
        node = self.rel()
        while self.at("&&"):
            self.take()
            node = ("and", node, self.rel())
        return node

    def rel(self) -> Any:
        node = self.add()
        while self.peek()[0] == "op" and self.peek()[1] in ("<", "<=", ">", ">=", "==", "!=", "in"):
            op = self.take()[1]
            node = ("bin", op, node, self.add())
        return node

    def add(self) -> Any:
        node = self.mul()
        while self.at("+") or self.at("-"):
            op = self.take()[1]
            node = ("bin", op, node, self.mul())
        return node

    def mul(self) -> Any:
        node = self.unary()
        while self.at("*"):
            self.take()
            node = ("bin", "*", node, self.unary())
        return node

    def unary(self) -> Any:
        if self.at("!"):
            self.take()
            return ("not", self.unary())
        if self.at("-"):
            self.take()
            operand = self.unary()
            if operand[0] == "lit" and type(operand[1]) in (int, float):
                return ("lit", -operand[1])
            return ("neg", operand)
        return self.member()

    def member(self) -> Any:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                kind, name = self.take()
                if kind != "id":
                    raise Unsupported("expected a field name")
                if self.at("("):
                    node = ("call", name, node, self.args(")"))
                else:
                    node = ("sel", node, name)
            elif self.at("["):
                self.take()
                key = self.expr()
                self.take("]")
                node = ("idx", node, key)
            else:
                return node

    def args(self, close: str) -> list[Any]:
        self.take("(" if close == ")" else "[")
        items: list[Any] = []
        while not self.at(close):
            items.append(self.expr())
            if not self.at(close):
                self.take(",")
        self.take(close)
        return items

    def primary(self) -> Any:
        kind, value = self.peek()
        if kind == "lit":
            self.take()
            return ("lit", value)
        if kind == "id":
            self.take()
            if self.at("("):
                return ("call", value, None, self.args(")"))
            return ("id", value)
        if self.at("("):
            self.take()
            node = self.expr()
            self.take(")")
            return node
        if self.at("["):
            return ("list", self.args("]"))
        raise Unsupported("unsupported syntax")


def parse(source: str) -> Any:
    """The AST of ``source``; :class:`Unsupported` outside the subset."""
    p = _Parser(source)
    node = p.expr()
    if p.peek()[0] != "end":
        raise Unsupported("trailing input")
    return node


def kind_constraint(source: str) -> frozenset[str] | None:
    """The kinds a condition can match, from its top-level ``&&`` conjuncts
    ``event.kind == "X"`` / ``event.kind in ["X", ...]`` (None: no such conjunct).

    Exact for the engine's index: in CEL ``false && anything`` is false, errors too.
    Used when :func:`sluice.policy.analysis.analyze` is unsure of a source (escapes).
    """
    try:
        node = parse(source)
    except (Unsupported, RecursionError):
        return None
    conjuncts: list[Any] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n[0] == "and":
            stack.extend((n[1], n[2]))
        else:
            conjuncts.append(n)
    kind_ref = ("sel", ("id", "event"), "kind")
    allowed: frozenset[str] | None = None
    for n in conjuncts:
        values: frozenset[str] | None = None
        if n[0] == "bin" and n[1] == "==":
            other = n[3] if n[2] == kind_ref else n[2] if n[3] == kind_ref else None
            if other is not None and other[0] == "lit" and type(other[1]) is str:
                values = frozenset({other[1]})
        elif n[0] == "bin" and n[1] == "in" and n[2] == kind_ref and n[3][0] == "list":
            items = n[3][1]
            if items and all(i[0] == "lit" and type(i[1]) is str for i in items):
                values = frozenset(i[1] for i in items)
        if values is not None:
            allowed = values if allowed is None else allowed & values
    return allowed
