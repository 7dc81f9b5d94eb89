"""Decoded forms of an ``sql`` value: what an application may turn it into before SQL.

URL-decoding (``%XX``, up to three rounds for double encoding; IIS ``%uXXXX``), ``\\xNN``
escapes, HTML character references of quotes (``&apos;``, ``&#39;``, ``&quot;``), and
typographic and look-alike quotes (U+2019, U+00B4, U+02BC, U+FF07) folded to ASCII
ones. The fingerprint and the probes judge every form, and ``encoded_sqli`` runs the
named rules on the decoded ones.
"""

from __future__ import annotations

import functools
import html
import re
import urllib.parse

__all__ = ["DECODE_CHARS", "PCT_ESCAPE", "decoded_forms"]

_QUOTE_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        # look-alike quotes (acute accent, modifier letters, fullwidth): some collations
        # and "best fit" conversions turn them into ASCII quotes before SQL
        "\u00b4": "'",
        "\u02b9": "'",
        "\u02bc": "'",
        "\uff07": "'",
        "\uff02": '"',
    }
)
#: Characters of a value that are decoded (``%XX``, ``\\xNN``) for the decoded forms.
DECODE_CHARS = 4096
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
PCT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_PCT_U = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
#: Character references an application may decode before SQL (HTML form round trips).
_ENTITY = re.compile(r"&(?:apos|quot|lpar|rpar|num|semi|#0*3[49]|#[xX]0*2[27]);?")


@functools.lru_cache(maxsize=256)
def decoded_forms(view: str) -> tuple[str, ...]:
    """``view`` and the forms an application may turn it into before it reaches SQL.

    URL-decoding (``%XX``, up to three rounds for double encoding), ``\\xNN`` escapes,
    and typographic quotes folded to ASCII ones. Only the first :data:`DECODE_CHARS`
    characters are decoded (URL-length scale; decoding is a Python loop per escape).
    """
    forms = [view]
    cur = view[:DECODE_CHARS]
    if "%u" in cur or "%U" in cur:
        nxt = _PCT_U.sub(lambda m: chr(int(m.group(1), 16)), cur)
        if nxt != cur:
            cur = nxt
            forms.append(cur)
    for _ in range(3):
        if "%" not in cur:
            break
        nxt = urllib.parse.unquote(cur, errors="replace")
        if nxt == cur:
            break
        cur = nxt
        forms.append(cur)
    if "\\x" in cur:
        cur = _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), cur)
        forms.append(cur)
    if "&" in cur and _ENTITY.search(cur):
        cur = _ENTITY.sub(lambda m: html.unescape(m.group(0).rstrip(";") + ";"), cur)
        forms.append(cur)
    if not cur.isascii():
        # the view is NFKC-folded: an acute accent (U+00B4) arrives as space + U+0301
        folded = cur.replace(" \u0301", "'").translate(_QUOTE_FOLD)
        if folded != cur:
            forms.append(folded)
    return tuple(forms)
