"""Helper for the rule files' sample tests: does one engine rule alone fire on a text."""

from __future__ import annotations

import re2

from sluice.sanitize.base import Rule

__all__ = ["rule_fires"]


def rule_fires(rule: Rule, text: str) -> bool:
    """True when ``rule`` alone reports a hit in ``text`` (pattern, group and check), as the
    engine would on a field whose view is ``text``."""
    for m in re2.compile(rule.pattern).finditer(text):
        start, end = m.span(rule.group)
        if start < 0 or end <= start:
            continue
        if rule.check is None or rule.check(text, m, text[start:end]) is not None:
            return True
    return False
