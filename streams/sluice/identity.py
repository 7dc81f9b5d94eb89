"""Identity comparison as people read names: one fold for actors, reviewers and producers.

Fullwidth ``BOB``, ``"bob "`` and ``bob`` with a zero-width space inside all fold to ``bob``.
The fold is NFKC, case folding, NFKC again (NFKC_Casefold, approximated), with default-
ignorable code points (zero-width characters, joiners, variation selectors, soft hyphen,
bidi controls, tags) removed and surrounding whitespace stripped. Compare ids only
through this function: separation of duties, registry uniqueness and producer
authorization all rely on it.

:func:`skeleton_id` goes one step further for look-alikes: Latin ``alice`` and ``alice``
with a Cyrillic U+0430 for ``a`` fold differently (they are different code points, possibly
different people), but a person reading them cannot tell them apart. The reviewers
registry refuses two ids with one skeleton, and the gate treats a reviewer whose
skeleton is the actor's as the actor (refusing is the safe side of a look-alike).
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold_id", "is_default_ignorable", "skeleton_id"]

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


#: Look-alikes of Latin lowercase letters (after :func:`fold_id`): Cyrillic, Greek,
#: Armenian and Latin-extended letters, and the ASCII digits read as letters. A small
#: subset of Unicode's confusables.txt (UTS #39) covering the letters of usernames.
_SKELETON = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a",
        "\u0435": "e",
        "\u0456": "i",
        "\u0458": "j",
        "\u043a": "k",
        "\u043e": "o",
        "\u0440": "p",
        "\u0441": "c",
        "\u0455": "s",
        "\u0443": "y",
        "\u0445": "x",
        "\u04bb": "h",
        "\u0501": "d",
        "\u051b": "q",
        "\u051d": "w",
        "\u04cf": "l",
        "\u0475": "v",
        "\u0454": "e",
        "\u0432": "b",
        "\u043c": "m",
        "\u043d": "h",
        "\u0442": "t",
        "\u044c": "b",
        "\u0457": "i",
        # Greek
        "\u03b1": "a",
        "\u03bf": "o",
        "\u03c1": "p",
        "\u03bd": "v",
        "\u03b9": "i",
        "\u03ba": "k",
        "\u03c4": "t",
        "\u03c5": "u",
        "\u03c7": "x",
        "\u03b5": "e",
        "\u03b3": "y",
        "\u03f2": "c",
        "\u03f3": "j",
        "\u03b7": "n",
        "\u03c9": "w",
        # Armenian
        "\u0585": "o",
        "\u057d": "u",
        "\u0570": "h",
        "\u0566": "q",
        "\u0581": "g",
        "\u0578": "n",
        # Latin extended
        "\u0131": "i",
        "\u0251": "a",
        "\u0261": "g",
        "\u0269": "i",
        "\u028b": "u",
        # digits read as letters
        "0": "o",
        "1": "l",
    }
)


#: Code points outside Default_Ignorable that still render blank.
_BLANKS = frozenset({"\u2800", "\u3164", "\uffa0", "\u115f", "\u1160", "\u17b4", "\u17b5"})


def skeleton_id(value: str) -> str:
    """:func:`fold_id`, then look-alike letters mapped to the Latin letter they imitate.

    Two ids with one skeleton read as one name (``alice``, ``\u0430lice``, ``a1ice``).
    """
    s = fold_id(value).translate(_SKELETON)
    # Blanks that are not default-ignorable but render as nothing or a space (U+2800
    # BRAILLE PATTERN BLANK, spaces inside the id): ``bob`` + U+2800 reads as ``bob``.
    s = "".join(ch for ch in s if ch not in _BLANKS and not ch.isspace())
    return s.replace("rn", "m").replace("vv", "w")
