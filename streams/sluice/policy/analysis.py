"""Static analysis of a rule's CEL source: what it reads, and cheap exact pre-filters.

Everything here is conservative: when the source holds anything the simple scanner is
not sure about (raw or triple-quoted strings, escapes, backticks, an unbalanced quote,
a comprehension variable named ``event``), the analysis answers "unknown" and the
engine falls back to plain CEL evaluation over the whole event. The fast paths it
enables must never change which rule matches (see ``tests/unit/policy`` for the
differential test against the plain evaluator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConditionInfo", "analyze", "mask_literals", "rewrite_event_fields"]

# A comment or a plain one-line string literal, whichever starts first (left to right).
_TOKEN = re.compile(r"""//[^\n]*|"(?:[^"\\\n])*"|'(?:[^'\\\n])*'""")
# Anything that makes the scanner unsure: escapes, triple-quoted strings, backticks...
_UNSURE = re.compile(r"""\\|\"\"\"|'''|`""")
# ... and, once strings are masked, a raw or bytes prefix before a literal.
_PREFIXED = re.compile(r"(?<![\w.])[rRbB]{1,2}\x00")
_EVENT = re.compile(r"(?<![\w.])event\b")
_EVENT_FIELD = re.compile(r"(?<![\w.])event\s*\.\s*([A-Za-z_]\w*)")
_NAMED = re.compile(r"(?<![\w.])(lists|limits)\s*\.\s*([A-Za-z_]\w*)")
# Variables bound by macros: x.all(v, ...), x.exists(v, ...), cel.bind(v, ...), ...
_BOUND = re.compile(r"\b(?:all|exists|exists_one|map|filter|bind)\s*\(\s*([A-Za-z_]\w*)\s*,")
_ENUM_LITERAL = re.compile(r"^[A-Z][A-Z0-9_]*$")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
#: Event fields whose values are enum symbols (plain strings), usable in pre-filters.
ENUM_FIELDS = frozenset({"kind", "data_classification"})


@dataclass(slots=True)
class ConditionInfo:
    """What a condition reads and which of its conjuncts are simple enum constraints."""

    #: False when the scanner is unsure; then nothing below may be relied on.
    sure: bool
    #: Event fields read (``event.<f>``); None means "the whole event" (bare ``event``).
    event_fields: frozenset[str] | None = None
    #: ``lists.<name>`` / ``limits.<name>`` references, as (section, name).
    named: frozenset[tuple[str, str]] = frozenset()
    #: Variables bound by macros (comprehension variables).
    bound: frozenset[str] = frozenset()
    #: Top-level conjuncts of the form ``event.F == "X"`` / ``event.F in ["X", ...]``.
    constraints: dict[str, frozenset[str]] = field(default_factory=dict)
    #: True when every top-level conjunct is such a constraint (no CEL needed at all).
    pure_constraints: bool = False
    #: True when a top-level conjunct is exactly ``findings.exists(...)``: the condition
    #: is false for an event without findings (CEL: ``false && x`` is false, errors too).
    needs_findings: bool = False
    #: Every top-level conjunct as a simple predicate, or None for one that is not:
    #: ``("in", f, values)``, ``("notnull", f, None)``, ``("cmp", f, (op, number))`` or
    #: ``("cmp", f, (op, ("limits", name)))``. Empty when the top level is not ``&&``.
    predicates: list[tuple[str, str, Any] | None] = field(default_factory=list)
    #: The source with comments removed and whitespace collapsed (for duplicate checks).
    normalized: str = ""


def _mask(source: str) -> tuple[str, list[str]] | None:
    """Replace string literals with placeholders and drop comments; None when unsure.

    Returns the masked text and the literal tokens as written (quotes included).
    """
    if _UNSURE.search(source) or "\x00" in source:
        return None
    literals: list[str] = []

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok.startswith("//"):
            return " "
        literals.append(tok)
        return f"\x00{len(literals) - 1}\x00"

    masked = _TOKEN.sub(repl, source)
    if '"' in masked or "'" in masked or _PREFIXED.search(masked):
        return None
    return masked, literals


def mask_literals(source: str) -> tuple[str, list[str]] | None:
    """String literals as ``\\x00N\\x00`` placeholders, comments dropped; None when unsure."""
    return _mask(source)


def _split_top(masked: str, sep: str) -> list[str] | None:
    """Split on ``sep`` at bracket depth 0; None when ``||`` or ``?`` sits at depth 0."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(masked)
    while i < n:
        c = masked[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            if c == "?" or masked.startswith("||", i):
                return None
            if masked.startswith(sep, i):
                parts.append(masked[start:i])
                i += len(sep)
                start = i
                continue
        i += 1
    parts.append(masked[start:])
    return parts


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        inner = text[1:-1]
        depth = 0
        for c in inner:  # only strip when the outer pair encloses everything
            depth += c in "([{"
            depth -= c in ")]}"
            if depth < 0:
                return text
        text = inner.strip()
    return text


def _literal(token: str, literals: list[str]) -> str | None:
    m = _PLACEHOLDER.fullmatch(token.strip())
    if m is None:
        return None
    value = literals[int(m.group(1))][1:-1]
    return value if _ENUM_LITERAL.match(value) else None


def _constraint(conjunct: str, literals: list[str]) -> tuple[str, frozenset[str]] | None:
    """``event.F == "X"``, ``"X" == event.F`` or ``event.F in ["X", "Y"]`` → (F, {X, Y})."""
    text = _strip_parens(conjunct)
    m = re.fullmatch(r"event\s*\.\s*([a-z_]+)\s*==\s*(\x00\d+\x00)", text) or re.fullmatch(
        r"(\x00\d+\x00)\s*==\s*event\s*\.\s*([a-z_]+)", text
    )
    if m is not None:
        fld, tok = (m.group(1), m.group(2)) if text.startswith("event") else m.group(2, 1)
        lit = _literal(tok, literals)
        if fld in ENUM_FIELDS and lit is not None:
            return fld, frozenset({lit})
        return None
    m = re.fullmatch(r"event\s*\.\s*([a-z_]+)\s+in\s*\[([^\[\]]*)\]", text)
    if m is None or m.group(1) not in ENUM_FIELDS:
        return None
    items = [t for t in (s.strip() for s in m.group(2).split(",")) if t]
    values = [_literal(t, literals) for t in items]
    if not values or any(v is None for v in values):
        return None
    return m.group(1), frozenset(v for v in values if v is not None)


_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def _predicate(conjunct: str, literals: list[str]) -> tuple[str, str, Any] | None:
    """One conjunct as a predicate Python can decide exactly, or None."""
    item = _constraint(conjunct, literals)
    if item is not None:
        return ("in", item[0], item[1])
    text = _strip_parens(conjunct)
    m = re.fullmatch(r"event\s*\.\s*([a-z_]+)\s*!=\s*null", text)
    if m is not None:
        return ("notnull", m.group(1), None)
    m = re.fullmatch(r"event\s*\.\s*([a-z_]+)\s*(<=|>=|<|>)\s*(.+)", text)
    if m is None:
        return None
    rhs = m.group(3).strip()
    if _NUMBER.fullmatch(rhs):
        return ("cmp", m.group(1), (m.group(2), float(rhs)))
    lm = re.fullmatch(r"limits\s*\.\s*([A-Za-z_]\w*)", rhs)
    if lm is not None:
        return ("cmp", m.group(1), (m.group(2), ("limits", lm.group(1))))
    return None


def analyze(source: str) -> ConditionInfo:
    """Scan one condition's source. Never raises; unsure input gives ``sure=False``."""
    masked_lits = _mask(source)
    if masked_lits is None:
        return ConditionInfo(sure=False, normalized=" ".join(source.split()))
    masked, literals = masked_lits
    bound = frozenset(_BOUND.findall(masked))
    normalized = " ".join(_PLACEHOLDER.sub(lambda m: literals[int(m.group(1))], masked).split())
    if "event" in bound:  # a macro variable shadows `event`: field analysis would lie
        return ConditionInfo(sure=False, bound=bound, normalized=normalized)
    fields = frozenset(_EVENT_FIELD.findall(masked))
    bare = len(_EVENT.findall(masked)) != sum(1 for _ in _EVENT_FIELD.finditer(masked))
    named = frozenset((m.group(1), m.group(2)) for m in _NAMED.finditer(masked))
    constraints: dict[str, frozenset[str]] = {}
    pure = False
    needs_findings = False
    predicates: list[tuple[str, str, Any] | None] = []
    conjuncts = _split_top(masked, "&&")
    if conjuncts is not None:
        predicates = [_predicate(c, literals) for c in conjuncts]
        found = [_constraint(c, literals) for c in conjuncts]
        for item in found:
            if item is not None:
                fld, values = item
                prev = constraints.get(fld)
                constraints[fld] = values if prev is None else prev & values
        pure = all(item is not None for item in found)
        needs_findings = any(_is_findings_exists(c) for c in conjuncts)
    return ConditionInfo(
        sure=True,
        event_fields=None if bare else fields,
        named=named,
        bound=bound,
        constraints=constraints,
        pure_constraints=pure,
        predicates=predicates,
        normalized=normalized,
        needs_findings=needs_findings,
    )


def _is_findings_exists(conjunct: str) -> bool:
    """Whether a (masked) conjunct is one call ``findings.exists(...)`` and nothing more."""
    text = _strip_parens(conjunct)
    m = re.match(r"findings\s*\.\s*exists\s*\(", text)
    if m is None:
        return False
    depth = 0
    for i in range(m.end() - 1, len(text)):
        depth += text[i] in "([{"
        depth -= text[i] in ")]}"
        if depth == 0:
            return i == len(text) - 1
    return False


def rewrite_event_fields(source: str, prefix: str) -> str | None:
    """``event.f`` → ``<prefix>f`` (a flat variable), or None when that may not be exact.

    Flat variables are several times cheaper to hand to the CEL runtime than a map. Not
    rewritten: unsure sources, a bare ``event``, and ``has(event.f)`` (``has`` needs a
    field selection).
    """
    masked_lits = _mask(source)
    if masked_lits is None:
        return None
    masked, literals = masked_lits
    info = analyze(source)
    if (
        not info.sure
        or info.event_fields is None
        or prefix in masked
        or re.search(r"\bhas\s*\(", masked)
    ):
        return None
    out = _EVENT_FIELD.sub(lambda m: prefix + m.group(1), masked)
    # Put the literals back exactly as written (plain one-line strings, no escapes).
    return _PLACEHOLDER.sub(lambda m: literals[int(m.group(1))], out)
