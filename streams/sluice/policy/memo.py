"""Memo keys for the engine: hashable stand-ins that CEL cannot tell apart.

CEL is pure, so a rule's result can be memoised on the exact values it reads; the
key must separate every pair of values CEL treats differently (``1`` and ``1.0``,
``0.0`` and ``-0.0``, ``True`` and ``1``), and values it cannot key on raise
:class:`Unhashable` (the engine then evaluates without the memo).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MEMO_LIMIT", "Unhashable", "freeze"]

#: Memo entries per rule before the memo is cleared (bounds memory on high-cardinality input).
MEMO_LIMIT = 4096


class Unhashable(Exception):
    """A value the memo cannot key on; evaluate without memo."""


def freeze(value: Any) -> Any:
    """A hashable stand-in equal only for values CEL cannot tell apart."""
    t = type(value)
    if t is str or value is None:
        return value
    if t is float:
        # 0.0 == -0.0 (and hash alike) but CEL tells them apart (1.0 / x, string(x)).
        return value if value else ("z", math.copysign(1.0, value))
    if t is int:  # keep 1 (int) apart from 1.0 and True: CEL types differ
        return ("i", value)
    if t is bool:
        return ("b", value)
    if t is dict:
        try:
            items = sorted(value.items())
        except TypeError as exc:
            raise Unhashable from exc
        return ("d", tuple((k, freeze(v)) for k, v in items))
    if t is list or t is tuple:
        return ("l", tuple(freeze(v) for v in value))
    raise Unhashable
