"""Identity comparison as people read names: one fold for actors, reviewers and producers.

Fullwidth ``BOB``, ``"bob "`` and ``bob`` with a zero-width space inside all fold to ``bob``.
The fold is NFKC, case folding, NFKC again (NFKC_Casefold, approximated), with default-
ignorable code points (zero-width characters, joiners, variation selectors, soft hyphen,
bidi controls, tags) removed and surrounding whitespace stripped. Compare ids only
through this function: separation of duties, registry uniqueness and producer
authorization all rely on it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold_id", "is_default_ignorable"]

#: Default_Ignorable_Code_Point ranges (Unicode 15 DerivedCoreProperties.txt).
_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def is_default_ignorable(ch: str) -> bool:
    """True for a code point that renders as nothing (Default_Ignorable_Code_Point)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _IGNORABLE_RANGES)


def fold_id(value: str) -> str:
    """The comparison form of an actor, reviewer or producer id."""
    if value.isascii():
        return value.strip().lower()
    s = unicodedata.normalize("NFKC", value)
    s = "".join(ch for ch in s if not is_default_ignorable(ch))
    s = unicodedata.normalize("NFKC", s.casefold())
    return s.strip()
