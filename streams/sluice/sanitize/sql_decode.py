"""Decoded forms of an ``sql`` value: what an application may turn it into before SQL.

URL-decoding (``%XX``, up to three rounds for double encoding), ``\\xNN`` escapes, and
typographic quotes folded to ASCII ones. The fingerprint and the probes judge every form,
and ``encoded_sqli`` runs the named rules on the decoded ones.
"""

from __future__ import annotations

import functools
import re
import urllib.parse

__all__ = ["DECODE_CHARS", "PCT_ESCAPE", "decoded_forms"]

_QUOTE_FOLD = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"}
)
#: Characters of a value that are decoded (``%XX``, ``\\xNN``) for the decoded forms.
DECODE_CHARS = 4096
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
PCT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


@functools.lru_cache(maxsize=256)
def decoded_forms(view: str) -> tuple[str, ...]:
    """``view`` and the forms an application may turn it into before it reaches SQL.

    URL-decoding (``%XX``, up to three rounds for double encoding), ``\\xNN`` escapes,
    and typographic quotes folded to ASCII ones. Only the first :data:`DECODE_CHARS`
    characters are decoded (URL-length scale; decoding is a Python loop per escape).
    """
    forms = [view]
    cur = view[:DECODE_CHARS]
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
    if not cur.isascii():
        folded = cur.translate(_QUOTE_FOLD)
        if folded != cur:
            forms.append(folded)
    return tuple(forms)
