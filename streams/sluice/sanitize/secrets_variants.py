"""Split, marked and encoded secrets: texts in which an evaded token is whole again.

An attacker who knows the formats splits a token ("ghp_abc 123…", across lines or with
hyphens), puts a combining mark inside it, or encodes it (base64, hex, percent, HTML
entities). :func:`secret_variants` derives, from the matching view of a field, the texts
in which those tokens are whole again; the engine matches them against the secret rules
and maps hits back to the view. Every step is RE2 or a C-level codec on a bounded number
of bounded tokens, so the cost stays linear in the field.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import html
import itertools
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import re2

from sluice.sanitize.base import RE2_QUIET

__all__ = [
    "MAX_DECODED_CHARS",
    "MAX_DECODED_PER_EVENT",
    "MAX_DECODED_TOKENS",
    "MAX_LOOKALIKE_PER_EVENT",
    "TokenBudget",
    "Variant",
    "decoded_variant",
    "glued_pattern",
    "lookalike_variant",
    "past_decode_caps",
    "secret_variants",
]

# Separator runs removed to rejoin a split token (whitespace; with hyphens in a second
# variant), and combining marks. Single character classes with Python's re: the C-level
# sub is linear and fast, which RE2's Python wrapper (a Python loop per match) is not.
# \s is str.isspace(), the same characters str.split() removes: the C-level
# "".join(view.split()) builds the variant, the regex maps positions back (on a hit only).
_WS_RUN = re.compile(r"\s+")
_WS_HYPHEN_RUN = re.compile(r"[\s\-]+")
_MARK_RUN = re.compile(
    r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
# The same marks for RE2 (a prefilter: on non-ASCII text its DFA is ~3x faster than
# re's per-position class test, and text without marks is the rule)
_MARK_RE2 = re2.compile(re.sub(r"\\u([0-9a-f]{4})", r"\\x{\1}", _MARK_RUN.pattern), RE2_QUIET)


def _has_marks(view: str) -> bool:
    try:
        return _MARK_RE2.search(view) is not None
    except UnicodeEncodeError:  # a lone surrogate (RE2 reads UTF-8)
        return _MARK_RUN.search(view) is not None


# What a percent- or entity-encoded token needs at least once (a literal first character
# is fast for re); a base64 or hex token is found by its own search.
_PCT_HINT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENT_HINT = re.compile(r"&#?[A-Za-z0-9]{1,8};")
# One pass finds base64, base64url and hex tokens (hex is a subset of the class); a
# single character class, on which Python's re is linear and cheaper per call than the
# RE2 wrapper. 20 characters: the base64 of a 15-byte secret.
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
# The same on ASCII text, as bytes: RE2's DFA skips prose faster than re's per-position
# tries (the tokens, and their offsets, are the same).
_B64_TOKEN_RE2 = re2.compile(_B64_TOKEN.pattern, RE2_QUIET)
#: From this length on (below it, the RE2 wrapper's cost per call is more than re's).
_RE2_FROM = 256
_PCT_TOKEN = re2.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){3,}", RE2_QUIET)
_ENT_TOKEN = re2.compile(r"[^\s&]*(?:&#?[A-Za-z0-9]{1,8};[^\s&]*){3,}", RE2_QUIET)
#: At most this many encoded tokens are decoded per field (and decoded bytes in all).
MAX_DECODED_TOKENS = 32
MAX_DECODED_CHARS = 65536


@dataclass(slots=True)
class Variant:
    """A derived text and how its positions map back to the view.

    ``runs`` (removal variants): the removed (start, end) view spans, in order; a position
    in ``text`` maps to the view by adding the lengths removed before it. ``pieces``
    (decoded variants): (variant start, variant end, view start, view end) per token; a
    hit inside a piece maps to the whole encoded token.
    """

    kind: str
    text: str
    view: str = ""
    regex: Any = None
    pieces: list[tuple[int, int, int, int]] | None = None
    _vpos: list[int] | None = None
    _cum: list[int] | None = None
    #: view index from which tokens were not looked at: the event's allowance ran out
    capped_at: int | None = None

    def _index(self) -> tuple[list[int], list[int]]:
        """Variant position of each removed run and the length removed before it.

        Computed on the first hit only (hits are rare), in O(n); each mapping is then a
        binary search, so many hits in one field stay linear.
        """
        if self._vpos is None or self._cum is None:
            vpos: list[int] = []
            cum = [0]
            for m in self.regex.finditer(self.view):
                s, e = m.span()
                vpos.append(s - cum[-1])
                cum.append(cum[-1] + e - s)
            self._vpos, self._cum = vpos, cum
        return self._vpos, self._cum

    def view_start(self, pos: int) -> int:
        """The view position of variant position ``pos`` (for decoded text: its token's)."""
        if self.pieces is not None:
            for vs, ve, os_, _oe in self.pieces:
                if pos < ve or vs >= pos:
                    return os_
            return self.pieces[-1][2] if self.pieces else 0
        vpos, cum = self._index()
        return pos + cum[bisect.bisect_right(vpos, pos)]

    def to_view(self, start: int, end: int) -> tuple[int, int] | None:
        """The view span of variant span [start, end), or None when it needs no variant."""
        if self.pieces is not None:
            for vs, ve, os_, oe in self.pieces:
                if vs <= start < ve:
                    return os_, oe
            return None
        vpos, cum = self._index()
        k_start = bisect.bisect_right(vpos, start)
        k_end = bisect.bisect_right(vpos, end - 1)
        if k_end == k_start:
            return None  # nothing was removed inside the hit: the plain scan has it
        return start + cum[k_start], end + cum[k_end]


def _removal(kind: str, view: str, regex: Any) -> Variant | None:
    if regex is _WS_RUN:
        text = "".join(view.split())
    elif regex is _WS_HYPHEN_RUN:
        text = "".join(view.replace("-", " ").split())
    else:
        text = regex.sub("", view)
    if len(text) == len(view):
        return None
    return Variant(kind, text, view=view, regex=regex)


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    bad = sum(1 for c in text if not (c.isprintable() or c in "\n\r\t"))
    return text if bad * 20 <= len(text) else None


_HEX_CHARS = "0123456789abcdefABCDEF-"


def _decode_b64(tok: str) -> str | None:
    if len(tok) < 16 or not tok.strip(_HEX_CHARS) or tok.islower() or tok.isupper():
        # short, hex / UUID (ids and hashes, decoded as hex if at all), or one case only
        # (slugs, words): base64 of text always mixes cases
        return None
    core = tok.rstrip("=")
    # hashes, ids and words are rarely valid base64 of printable text
    try:
        raw = base64.urlsafe_b64decode(
            core.replace("+", "-").replace("/", "_") + "=" * (-len(core) % 4)
        )
    except (ValueError, binascii.Error):
        return None
    return _printable(raw)


def _decode_b64_or_hex(tok: str) -> str | None:
    if len(tok) >= 20 and not tok.strip("0123456789abcdefABCDEF"):
        return _decode_hex(tok)
    return _decode_b64(tok)


def _decode_hex(tok: str) -> str | None:
    if len(tok) % 2:
        return None
    try:
        return _printable(bytes.fromhex(tok))
    except ValueError:
        return None


def _decode_pct(tok: str) -> str | None:
    if "%" not in tok:
        return None
    try:
        out = urllib.parse.unquote(tok, errors="strict")
    except UnicodeDecodeError:  # %F6 alone is not UTF-8: not an encoded key
        return None
    return out if out and out != tok else None


def _decode_entities(tok: str) -> str | None:
    out = html.unescape(tok)
    return out if out != tok else None


def _spans(regex: Any, view: str) -> Iterator[tuple[int, int]]:
    if regex is _B64_TOKEN and len(view) >= _RE2_FROM and view.isascii():
        # ASCII: byte offsets are character offsets
        return (m.span() for m in _B64_TOKEN_RE2.finditer(view.encode("ascii")))
    return (m.span() for m in regex.finditer(view))


def decoded_variant(view: str, event: TokenBudget | None = None) -> Variant | None:
    """Encoded tokens of ``view`` decoded, one per line, each mapped to its token span.
    Tokens decoded are drawn from ``event``'s allowance too; when it runs out the variant
    says where (``capped_at``)."""
    # (each search has its own hint: one alternation for all three, with a character
    # class first, cost re more on prose than the three)
    parts: list[str] = []
    pieces: list[tuple[int, int, int, int]] = []
    pos = 0
    budget = MAX_DECODED_TOKENS
    capped_at: int | None = None
    for regex, decode, hint in (
        (_PCT_TOKEN, _decode_pct, _PCT_HINT),
        (_ENT_TOKEN, _decode_entities, _ENT_HINT),
        (_B64_TOKEN, _decode_b64_or_hex, None),
    ):
        if hint is not None and (hint.pattern[0] not in view or not hint.search(view)):
            continue
        if capped_at is not None:
            break
        for s, e in _spans(regex, view):
            if budget <= 0 or pos >= MAX_DECODED_CHARS:
                break
            if event is not None:
                if event.decoded_tokens <= 0:
                    capped_at = s
                    break
                event.decoded_tokens -= 1
            budget -= 1
            if e - s > 8192:
                continue
            decoded = decode(view[s:e])
            if not decoded:
                continue
            decoded = decoded[: MAX_DECODED_CHARS - pos]
            pieces.append((pos, pos + len(decoded), s, e))
            parts.append(decoded)
            pos += len(decoded) + 1
    if not parts and capped_at is None:
        return None
    return Variant("decoded", "\n".join(parts), pieces=pieces, capped_at=capped_at)


# Cyrillic and Greek letters drawn like Latin ones: "gh\u0440_…" with a Cyrillic er is a
# GitHub token to whoever reads or pastes it.
_LOOKALIKE = str.maketrans(
    "аеорсухіјѕԁԛԝһАВЕКМНОРСТХУІЈЅοανικτΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwhABEKMHOPCTXYIJSoavikTABEZHIKMNOPTYX",
)
# RE2 (linear): with Python's re, a long ASCII run and no non-ASCII letter after it
# backtracks from every start position (quadratic: 80 KB took 73 s).
_NON_ASCII_TOKEN = re2.compile(r"[^\s\"'`<>]*[^\x00-\x7f][^\s\"'`<>]*", RE2_QUIET)


# The same tokens as _NON_ASCII_TOKEN.finditer, found with C-level single-class scans
# (linear: each token is scanned forward once and backward once), without RE2's
# per-match cost in Python (~10 µs, which made look-alike prose 5-10x plain text).
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_TOKEN_RUN = re.compile(r"[^\t\n\f\r \"'`<>]*")  # RE2's \s is [\t\n\f\r ]


class _Span:
    __slots__ = ("_e", "_s", "_view")

    def __init__(self, view: str, s: int, e: int) -> None:
        self._view, self._s, self._e = view, s, e

    def span(self) -> tuple[int, int]:
        return self._s, self._e

    def group(self, _n: int = 0) -> str:
        return self._view[self._s : self._e]


def _run_end(text: str, pos: int) -> int:
    m = _TOKEN_RUN.match(text, pos)  # always matches (a star)
    return m.end() if m is not None else pos


def _non_ascii_tokens(view: str) -> Iterator[_Span]:
    """Maximal runs of token characters that hold a non-ASCII character, in order."""
    rev = ""
    pos = 0
    n = len(view)
    while True:
        m = _NON_ASCII.search(view, pos)
        if m is None:
            return
        i = m.start()
        if not rev:
            rev = view[::-1]
        # back from i to the token's start (never before pos: a separator ends a token)
        back = _run_end(rev, n - i) - (n - i)
        end = _run_end(view, i)
        yield _Span(view, max(pos, i - back), end)
        pos = end  # > i: a non-ASCII character is never a separator


#: Non-ASCII tokens looked at per field for look-alike letters.
_MAX_LOOKALIKE_SCANNED = 4 * MAX_DECODED_TOKENS
#: The same per event (all fields): 128 arguments of look-alike prose would otherwise
#: look at 12,000 tokens (5x plain text). Past it a field's remaining non-ASCII tokens
#: are flagged unchecked (``capped_at``; see matching.VariantMatcher).
MAX_LOOKALIKE_PER_EVENT = 4 * _MAX_LOOKALIKE_SCANNED


#: Encoded tokens decoded per event (all fields; 32 per field): 128 arguments of 32
#: entity- or percent-encoded tokens each would otherwise decode 4,096. Past it a
#: field's remaining encoded tokens are not decoded and the rest of the field is
#: redacted as ``check_cap:decoded_secret`` (``capped_at``; matching.VariantMatcher).
MAX_DECODED_PER_EVENT = 16 * MAX_DECODED_TOKENS


class TokenBudget(Protocol):
    """The event's allowance of look-alike and encoded tokens (matching.Budget)."""

    lookalike_tokens: int
    decoded_tokens: int


def lookalike_variant(view: str, budget: TokenBudget | None = None) -> Variant | None:
    """Tokens of ``view`` with Cyrillic/Greek look-alike letters read as Latin; a hit maps
    to its whole token (same bounds as the decoded variant). Tokens looked at are drawn
    from ``budget``; when it runs out the variant says where (``capped_at``)."""
    parts: list[str] = []
    pieces: list[tuple[int, int, int, int]] = []
    pos = 0
    capped_at: int | None = None
    for n, m in enumerate(_non_ascii_tokens(view)):
        # tokens looked at count, not only those kept (prose in a Latin-like script is
        # all non-ASCII tokens); past the cap a look-alike token is still flagged by
        # unicode.confusable_report
        if n >= _MAX_LOOKALIKE_SCANNED or len(pieces) >= MAX_DECODED_TOKENS:
            break
        if pos >= MAX_DECODED_CHARS:
            break
        s, e = m.span()
        if budget is not None:
            if budget.lookalike_tokens <= 0:
                capped_at = s
                break
            budget.lookalike_tokens -= 1
        if not 8 <= e - s <= 8192:
            continue
        tok = m.group(0)
        folded = tok.translate(_LOOKALIKE)
        if folded == tok:
            continue
        pieces.append((pos, pos + len(folded), s, e))
        parts.append(folded)
        pos += len(folded) + 1
    if not parts and capped_at is None:
        return None
    return Variant("lookalike", "\n".join(parts), pieces=pieces, capped_at=capped_at)


def secret_variants(view: str, budget: TokenBudget | None = None) -> list[Variant]:
    """Derived texts of ``view`` in which split, marked or encoded tokens are whole."""
    out: list[Variant] = []
    split = _removal("split", view, _WS_RUN)
    if split is not None:
        out.append(split)
    if "-" in view:
        hyphen = _removal("split_hyphen", view, _WS_HYPHEN_RUN)
        if hyphen is not None and (split is None or hyphen.text != split.text):
            out.append(hyphen)
    if not view.isascii():
        marked = _removal("marked", view, _MARK_RUN) if _has_marks(view) else None
        if marked is not None:
            out.append(marked)
        looks = lookalike_variant(view, budget)
        if looks is not None:
            out.append(looks)
    d = decoded_variant(view, budget)
    if d is not None:
        out.append(d)
    return out


def glued_pattern(pattern: str) -> str:
    """``pattern`` without a leading word boundary, for text whose separators are gone
    (a word before the token is glued to it: "token ghp_…" becomes "tokenghp_…")."""
    for head in ("(?i)\\b", "\\b"):
        if pattern.startswith(head):
            return pattern[: len(head) - 2] + pattern[len(head) :]
    return pattern


def past_decode_caps(text: str) -> bool:
    """Whether :func:`decoded_variant` may stop before the end of ``text`` (more encoded
    tokens than :data:`MAX_DECODED_TOKENS`, or more characters than it decodes). The
    triage then tests each field on its own: ids in one field must not use up another's
    allowance. (Keep in step with decoded_variant's caps.)"""
    if len(text) > MAX_DECODED_CHARS:
        return True
    n = 0
    for regex, hint in ((_PCT_TOKEN, _PCT_HINT), (_ENT_TOKEN, _ENT_HINT)):
        if hint.search(text):
            n += sum(1 for _ in itertools.islice(regex.finditer(text), MAX_DECODED_TOKENS + 1))
    if n > MAX_DECODED_TOKENS:
        return True
    left = MAX_DECODED_TOKENS + 1 - n
    return sum(1 for _ in itertools.islice(_spans(_B64_TOKEN, text), left)) >= left
