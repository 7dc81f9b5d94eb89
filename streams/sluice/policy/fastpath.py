"""Rule conditions compiled to Python closures: the common CEL shapes without the CEL runtime.

Handing an event to the CEL runtime costs far more than evaluating the condition
(``Context.add_variable`` converts the whole map each time), so the shapes policies
use (``event.f``, ``in``, comparisons, ``&&``/``||``/``!``, ``.matches``,
``.endsWith``, ``double()``, ``x.all(v, ...)`` / ``x.exists(v, ...)`` over lists and
map keys, ``lists.*`` / ``limits.*``) are compiled once to Python.

The compiled form answers only on the plain path: well-typed values, no CEL run-time
error anywhere it looks. Whenever a value is not what the plain path expects (a missing
key, a null where a string is needed, mixed number types, ``double("20,000")``, a
non-ASCII string handed to a regular expression, ...) it raises :class:`Fallback` and
the engine runs the rule in CEL, which decides (errors included). So it never has to
reproduce CEL's error semantics, only its values, and
``tests/unit/policy/test_fastpath.py`` checks it against CEL on generated events and
mutated policies. Macros evaluate every element (no short-circuit), so CEL's
element-order-dependent error absorption never comes into play.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import re2

from sluice.policy.celparse import Unsupported, parse

__all__ = ["Fallback", "FastCondition", "answer", "compile_fast", "convertible"]

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
#: ``double()`` on strings is only decided here for plain decimals (same in Rust and Python).
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?")
#: Regex syntax whose meaning may differ between Rust's regex crate (CEL) and RE2.
_RE_UNSURE = re.compile(r"\[\[|&&|--|~~|\\[pPQCEzZ<>]|\(\?[^)]*u|\\[0-9]")
_RE_CASELESS = re.compile(r"\(\?[a-zA-Z]*i")
# Escapes and well-formed ``{n}`` / ``{n,}`` / ``{n,m}``: any other brace (``a{``,
# ``{,5}``) is a literal to RE2 but an error to Rust.
_RE_BRACE_OK = re.compile(r"\\x\{[0-9A-Fa-f]{1,6}\}|\\.|\{[0-9]+(?:,[0-9]*)?\}")

Env = dict[str, Any]
Fn = Callable[[Env], Any]
#: A compiled condition: (event, findings) → bool, or raises :class:`Fallback`.
FastCondition = Callable[[Mapping[str, Any], list[dict[str, Any]]], bool]


class Fallback(Exception):
    """This event leaves the plain path: evaluate the rule in CEL."""


_FALLBACK = Fallback()


def _fail() -> Any:
    raise _FALLBACK


def _num_type(a: Any, b: Any) -> type | None:
    ta = type(a)
    if ta is type(b) and (ta is int or ta is float):
        return ta
    return None


def _int_checked(v: int) -> int:
    if v < _INT_MIN or v > _INT_MAX:
        raise _FALLBACK
    return v


def _eq(a: Any, b: Any) -> bool:
    ta = type(a)
    if a is None or b is None:
        return a is None and b is None
    if ta is not type(b) or ta not in (str, bool, int, float):
        raise _FALLBACK
    if a != a or b != b:  # NaN
        raise _FALLBACK
    return bool(a == b)


def _order(op: str) -> Callable[[Any, Any], bool]:
    import operator

    cmp = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

    def f(a: Any, b: Any) -> bool:
        ta = type(a)
        if ta is not type(b) or ta not in (str, int, float) or a != a or b != b:
            raise _FALLBACK
        return bool(cmp(a, b))

    return f


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def f(a: Any, b: Any) -> Any:
        t = _num_type(a, b)
        if op == "+" and type(a) is str and type(b) is str:
            return a + b
        if t is None:
            raise _FALLBACK
        v = a + b if op == "+" else a - b if op == "-" else a * b
        return _int_checked(v) if t is int else v

    return f


def _in(a: Any, b: Any) -> bool:
    tb = type(b)
    if type(a) is not str:
        raise _FALLBACK
    if tb is dict:
        return a in b
    if tb is list:
        for item in b:
            if type(item) is not str:
                raise _FALLBACK
        return a in b
    raise _FALLBACK


def _regex(pattern: Any) -> Callable[[Any], bool]:
    if type(pattern) is not str:
        raise Unsupported("dynamic pattern")
    if "{" in _RE_BRACE_OK.sub("", pattern) or "}" in _RE_BRACE_OK.sub("", pattern):
        raise Unsupported("pattern braces")
    if _RE_UNSURE.search(pattern) or (
        _RE_CASELESS.search(pattern) and (not pattern.isascii() or re.search(r"\\[xu]", pattern))
    ):
        raise Unsupported("pattern syntax")
    try:
        compiled = re2.compile(pattern)
    except Exception as exc:
        raise Unsupported("pattern does not compile in RE2") from exc
    search = compiled.search

    def matches(s: Any) -> bool:
        # Rust's \s \d \w \b are Unicode-aware, RE2's ASCII; they agree on ASCII text
        # except that Rust's \s also matches \v.
        if type(s) is not str or not s.isascii() or "\x0b" in s:
            raise _FALLBACK
        return search(s) is not None

    return matches


def _str_method(name: str) -> Callable[[Any, Any], bool]:
    def f(s: Any, x: Any) -> bool:
        if type(s) is not str or type(x) is not str:
            raise _FALLBACK
        if name == "endsWith":
            return s.endswith(x)
        if name == "startsWith":
            return s.startswith(x)
        return x in s

    return f


def _double(v: Any) -> float:
    t = type(v)
    if t is float:
        return float(v)
    if t is int:
        return float(v)
    if t is str and _PLAIN_DECIMAL.fullmatch(v):
        return float(v)
    raise _FALLBACK


def _size(v: Any) -> int:
    t = type(v)
    if t is list or t is dict or (t is str and v.isascii()):  # CEL's size("é") is 2 (bytes)
        return len(v)
    raise _FALLBACK


class _Compiler:
    def __init__(self, lists: Mapping[str, Any], limits: Mapping[str, Any]) -> None:
        self.consts = {"lists": lists, "limits": limits}

    def const(self, node: Any, bound: frozenset[str]) -> tuple[bool, Any]:
        """(True, value) when ``node`` is a literal or ``lists.x`` / ``limits.x``."""
        kind = node[0]
        if kind == "lit":
            return True, node[1]
        if kind == "sel" and node[1][0] == "id" and node[1][1] in self.consts:
            if node[1][1] in bound:
                return False, None
            table = self.consts[node[1][1]]
            if node[2] not in table:
                raise Unsupported("undefined list or limit")
            return True, table[node[2]]
        if kind == "list":
            vals = [self.const(item, bound) for item in node[1]]
            if all(ok for ok, _ in vals):
                return True, [v for _, v in vals]
        return False, None

    def compile(self, node: Any, bound: frozenset[str]) -> Fn:
        ok, value = self.const(node, bound)
        if ok:
            if type(value) in (list, dict):
                raise Unsupported("container constant outside `in`")
            return lambda env: value
        kind = node[0]
        if kind == "id":
            name = node[1]
            if name in bound or name in ("event", "findings"):
                return lambda env: env[name]
            raise Unsupported(f"identifier {name}")
        if kind == "sel":
            obj = self.compile(node[1], bound)
            fld = node[2]

            def sel(env: Env) -> Any:
                m = obj(env)
                if type(m) is not dict:
                    if not isinstance(m, Mapping):
                        raise _FALLBACK
                value = m.get(fld, _FALLBACK)
                if value is _FALLBACK:
                    raise _FALLBACK
                return value

            return sel
        if kind == "idx":
            obj = self.compile(node[1], bound)
            key = self.compile(node[2], bound)

            def idx(env: Env) -> Any:
                m = obj(env)
                k = key(env)
                if type(m) is dict and type(k) is str and k in m:
                    return m[k]
                raise _FALLBACK

            return idx
        if kind == "not":
            x = self.compile(node[1], bound)

            def not_(env: Env) -> bool:
                v = x(env)
                if v is True:
                    return False
                if v is False:
                    return True
                raise _FALLBACK

            return not_
        if kind == "neg":
            x = self.compile(node[1], bound)

            def neg(env: Env) -> Any:
                v = x(env)
                if type(v) is float:
                    return -v
                if type(v) is int:
                    return _int_checked(-v)
                raise _FALLBACK

            return neg
        if kind in ("and", "or"):
            return self.logic(kind, self.compile(node[1], bound), self.compile(node[2], bound))
        if kind == "cond":
            c, t, f = (self.compile(n, bound) for n in node[1:])

            def cond(env: Env) -> Any:
                v = c(env)
                if v is True:
                    return t(env)
                if v is False:
                    return f(env)
                raise _FALLBACK

            return cond
        if kind == "bin":
            return self.binary(node[1], node[2], node[3], bound)
        if kind == "call":
            return self.call(node[1], node[2], node[3], bound)
        raise Unsupported(kind)

    @staticmethod
    def logic(kind: str, a: Fn, b: Fn) -> Fn:
        stop = kind == "or"  # the value that decides without looking right

        def logic(env: Env) -> bool:
            left = a(env)
            if left is stop:
                return stop
            if left is not (not stop):
                raise _FALLBACK
            right = b(env)
            if right is True or right is False:
                return bool(right)
            raise _FALLBACK

        return logic

    def binary(self, op: str, ln: Any, rn: Any, bound: frozenset[str]) -> Fn:
        left = self.compile(ln, bound)
        if op == "in":
            ok, value = self.const(rn, bound)
            if ok and type(value) is list and all(type(v) is str for v in value):
                members = frozenset(value)

                def in_const(env: Env) -> bool:
                    v = left(env)
                    if type(v) is not str:
                        raise _FALLBACK
                    return v in members

                return in_const
            right = self.compile(rn, bound)
            return lambda env: _in(left(env), right(env))
        right = self.compile(rn, bound)
        if op == "==":
            return lambda env: _eq(left(env), right(env))
        if op == "!=":
            return lambda env: not _eq(left(env), right(env))
        if op in ("<", "<=", ">", ">="):
            f = _order(op)
            return lambda env: f(left(env), right(env))
        if op in ("+", "-", "*"):
            g = _arith(op)
            return lambda env: g(left(env), right(env))
        raise Unsupported(op)

    def call(self, name: str, target: Any, args: list[Any], bound: frozenset[str]) -> Fn:
        if target is not None and name in ("all", "exists") and len(args) == 2:
            return self.macro(name, target, args, bound)
        if target is not None and name == "matches" and len(args) == 1:
            ok, pattern = self.const(args[0], bound)
            if not ok:
                raise Unsupported("dynamic pattern")
            m = _regex(pattern)
            t = self.compile(target, bound)
            return lambda env: m(t(env))
        if target is not None and name in ("endsWith", "startsWith", "contains") and len(args) == 1:
            f = _str_method(name)
            t = self.compile(target, bound)
            a = self.compile(args[0], bound)
            return lambda env: f(t(env), a(env))
        if name == "size" and (target is None) == (len(args) == 1) and len(args) <= 1:
            x = self.compile(target if target is not None else args[0], bound)
            return lambda env: _size(x(env))
        if name == "double" and target is None and len(args) == 1:
            x = self.compile(args[0], bound)
            return lambda env: _double(x(env))
        raise Unsupported(f"function {name}")

    def macro(self, name: str, target: Any, args: list[Any], bound: frozenset[str]) -> Fn:
        if args[0][0] != "id":
            raise Unsupported("macro variable")
        var = args[0][1]
        if var in ("event", "findings", "lists", "limits", "now"):
            raise Unsupported("macro variable shadows a variable")
        ok, value = self.const(target, bound)
        seq: Fn
        if ok:
            if type(value) is not list:
                raise Unsupported("macro over a constant that is not a list")
            items = value
            seq = lambda env: items  # noqa: E731
        else:
            seq = self.compile(target, bound)
        body = self.compile(args[1], bound | {var})
        want_all = name == "all"

        def macro(env: Env) -> bool:
            coll = seq(env)
            if type(coll) is not list and type(coll) is not dict:
                raise _FALLBACK
            saved = env.get(var, _FALLBACK)
            decided = False
            try:
                for item in coll:  # every element: no order-dependent short-circuit
                    env[var] = item
                    v = body(env)
                    if v is not True and v is not False:
                        raise _FALLBACK
                    if v is not want_all:
                        decided = True
            finally:
                if saved is _FALLBACK:
                    env.pop(var, None)
                else:
                    env[var] = saved
            return (not decided) if want_all else decided

        return macro


def compile_fast(
    source: str, lists: Mapping[str, Any], limits: Mapping[str, Any]
) -> FastCondition | None:
    """The condition as a Python closure, or None when it uses anything outside the subset."""
    try:
        fn = _Compiler(lists, limits).compile(parse(source), frozenset())
    except (Unsupported, RecursionError):
        return None

    def run(event: Mapping[str, Any], findings: list[dict[str, Any]]) -> bool:
        out = fn({"event": event, "findings": findings})
        if out is True or out is False:
            return bool(out)
        raise _FALLBACK

    return run


_NO_FINDINGS: list[dict[str, Any]] = []


def answer(
    fast: FastCondition, event: Mapping[str, Any], findings: list[dict[str, Any]] | None
) -> bool | None:
    """The compiled condition's answer, or None when CEL must decide."""
    try:
        return fast(event, findings or _NO_FINDINGS)
    except Fallback:
        return None


def convertible(event: Mapping[str, Any], findings: list[dict[str, Any]] | None) -> bool:
    """Whether CEL can take every value (no lone surrogate, no odd object): where it
    cannot, a CEL condition errs (fails closed), so the compiled form, which converts
    nothing, must not answer for that event."""
    try:
        orjson.dumps(event)
        if findings:
            orjson.dumps(findings)
    except Exception:  # orjson refuses what CEL's conversion refuses, and more
        return False
    return True
