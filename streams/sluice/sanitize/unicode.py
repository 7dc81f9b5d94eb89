"""Unicode tricks: invisible and direction-changing characters, tag characters, confusables.

:func:`prepare` turns a field into the *view* the pattern detectors match on:

1. zero-width characters, bidi embeddings/overrides/isolates (Trojan Source), Unicode
   tag characters (U+E0000 block, used to smuggle hidden instructions) and C0/C1
   control characters other than tab/CR/LF are found and removed. Exceptions that are
   legitimate text: ZWJ/ZWNJ between two non-ASCII characters (emoji sequences, Indic
   and Persian shaping) and the tag sequence of a subdivision flag emoji;
2. every remaining character is NFKC-folded on its own (fullwidth letters (U+FF41...) and
   ligatures become ASCII); lone surrogates become U+FFFD.

Folding per character (rather than NFKC of the whole string) keeps an exact map from
each view index back to the index of the field *as received*; findings always report
spans in the field as received. The ASCII case (almost all traffic) is one C-level scan.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import re2

from sluice.sanitize.base import RE2_QUIET

__all__ = [
    "CONFUSABLE_FLOOD",
    "CONFUSABLE_PER_EVENT",
    "CONTROL_DELETE",
    "CONTROL_RE",
    "FLOOD_CHARS_PER_EVENT",
    "FLOOD_RUNS",
    "Flood",
    "Prepared",
    "confusable_report",
    "confusable_spans",
    "counted_confusable_report",
    "prepare",
    "strip_flood",
    "view_is_text",
]

# NOTE: Python re is used only with single character classes here (no nesting, no
# alternation of quantified groups), which run in linear time.
_ASCII_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Invisible, bidi, tag and control characters: what :func:`prepare` removes.
CONTROL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0"
    "\U000e0000-\U000e007f]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN = re.compile(r"[^\s\"'<>()\[\]{},;|`]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})


def _classify(cp: int) -> str:
    if 0xE0000 <= cp <= 0xE007F:
        return "tag_characters"
    if 0x202A <= cp <= 0x202E or 0x2066 <= cp <= 0x2069 or cp in (0x200E, 0x200F, 0x061C):
        return "bidi_override"
    if cp < 0x20 or 0x7F <= cp <= 0x9F:
        return "control_character"
    return "zero_width"


@dataclass(slots=True)
class Prepared:
    """A field ready for matching.

    ``view`` is what detectors match; ``index_map[j]`` is the index in the original text
    of ``view[j]`` (``None`` means the identity). ``removed`` are original spans to drop;
    ``hits`` are (detector, start, end) runs of removed characters; ``hidden`` are
    (start, end, text) for tag-character runs decoded to ASCII.
    """

    view: str
    index_map: list[int] | None = None
    removed: list[tuple[int, int]] = field(default_factory=list)
    hits: list[tuple[str, int, int]] = field(default_factory=list)
    hidden: list[tuple[int, int, str]] = field(default_factory=list)


def _emojiish(ch: str) -> bool:
    cp = ord(ch)
    return (
        cp >= 0x1F000 or 0x2600 <= cp <= 0x27BF or cp == 0xFE0F or unicodedata.category(ch) == "So"
    )


def _shaping_script(ch: str) -> bool:
    # Arabic/Persian and Indic scripts use ZWJ/ZWNJ for shaping.
    cp = ord(ch)
    return 0x0600 <= cp <= 0x08FF or 0x0900 <= cp <= 0x0DFF or 0xFB50 <= cp <= 0xFEFC


def _keep_joiner(text: str, i: int) -> bool:
    if i == 0 or i + 1 >= len(text):
        return False
    prev, nxt = text[i - 1], text[i + 1]
    if _shaping_script(prev) and _shaping_script(nxt):
        return True
    return ord(text[i]) == 0x200D and _emojiish(prev) and _emojiish(nxt)


def _flag_tag_run(text: str, start: int, end: int) -> bool:
    # Subdivision flags: U+1F3F4, tag letters, U+E007F CANCEL TAG.
    return (
        start > 0
        and text[start - 1] == "\U0001f3f4"
        and text[end - 1] == "\U000e007f"
        and end - start <= 8
    )


def _scan_controls(text: str, prep: Prepared) -> None:
    run_det = ""
    run_start = -1
    run_end = -1
    for m in CONTROL_RE.finditer(text):
        i = m.start()
        ch = text[i]
        cp = ord(ch)
        if cp in (0x200C, 0x200D) and _keep_joiner(text, i):
            continue
        det = _classify(cp)
        if det == run_det and i == run_end:
            run_end = i + 1
            continue
        if run_det:
            _close_run(text, prep, run_det, run_start, run_end)
        run_det, run_start, run_end = det, i, i + 1
    if run_det:
        _close_run(text, prep, run_det, run_start, run_end)


def _close_run(text: str, prep: Prepared, det: str, start: int, end: int) -> None:
    if det == "tag_characters":
        if _flag_tag_run(text, start, end):
            return
        hidden = "".join(
            chr(ord(c) - 0xE0000) for c in text[start:end] if 0xE0020 <= ord(c) <= 0xE007E
        )
        if hidden:
            prep.hidden.append((start, end, hidden))
    prep.removed.append((start, end))
    prep.hits.append((det, start, end))


#: Removed control characters per field beyond which the field is a *flood*: they are
#: stripped in one pass (C regex plus one small callback per character) and reported as
#: one finding per detector class, instead of one run, edit and index-map entry each.
#: Keeps zero-width-interleaved text within a small multiple of plain text of its size.
FLOOD_RUNS = 256
#: Removed control characters per event taken on the exact path: past them, every further
#: field with any is stripped in bulk (128 arguments of 200 zero-width characters each
#: would otherwise cost a run, edit and finding apiece).
FLOOD_CHARS_PER_EVENT = 512


@dataclass(slots=True)
class Flood:
    """A field stripped of its control characters in bulk (see :func:`strip_flood`)."""

    text: str
    #: detector → (first index, last index + 1) in the original text.
    spans: dict[str, tuple[int, int]]
    #: ASCII decoded from tag characters (a hidden instruction channel), bounded.
    hidden: str


_SHAPING = "\u0600-\u08ff\u0900-\u0dff\ufb50-\ufefc"
_EMOJI = "\u2600-\u27bf\ufe0f\U0001f000-\U0010ffff"
#: Joiners that shape a script or join emoji (kept, as :func:`_keep_joiner` decides for
#: the exact path; emoji here by code point range only).
_KEEP_ZWNJ = re.compile(f"(?<=[{_SHAPING}])\u200c(?=[{_SHAPING}])")
_KEEP_ZWJ = re.compile(
    f"(?<=[{_SHAPING}])\u200d(?=[{_SHAPING}])|(?<=[{_EMOJI}])\u200d(?=[{_EMOJI}])"
)
_HOLD_ZWNJ, _HOLD_ZWJ = "\ufdd0", "\ufdd1"  # noncharacters: stand-ins while stripping
_CLASS_RE = {
    "tag_characters": re.compile("[\U000e0000-\U000e007f]"),
    "bidi_override": re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"),
    "control_character": re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"),
    "zero_width": re.compile(
        "[\u00ad\u034f\u115f\u1160\u180e\u200b-\u200d\u2060-\u2064\u3164\ufeff\uffa0]"
    ),
}
#: ``str.translate`` table deleting exactly the characters of :data:`CONTROL_RE`.
CONTROL_DELETE: dict[int, None] = {
    cp: None
    for cp in (
        *range(0x00, 0x09),
        0x0B,
        0x0C,
        *range(0x0E, 0x20),
        *range(0x7F, 0xA0),
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x180E,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2065),
        *range(0x2066, 0x206A),
        0x3164,
        0xFEFF,
        0xFFA0,
        *range(0xE0000, 0xE0080),
    )
}
# The same characters for RE2, whose DFA skips non-ASCII text ~3x faster than re's
# per-position class test: a field with none of them (almost all non-ASCII text) costs
# one RE2 search instead of a full re scan (two, with prepare's).
_CONTROL_RE2 = re2.compile(
    "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(CONTROL_DELETE)) + "]", RE2_QUIET
)


def _has_controls(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`CONTROL_RE`."""
    if text.isascii():
        return _ASCII_CTRL.search(text) is not None
    try:
        return _CONTROL_RE2.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate (RE2 reads UTF-8)
        return CONTROL_RE.search(text) is not None


_TAG_TO_ASCII = {cp: cp - 0xE0000 for cp in range(0xE0020, 0xE007F)}
_TAG_DROP = {cp: None for cp in (*range(0xE0000, 0xE0020), 0xE007F)}


_NOT_ZERO_WIDTH = re.compile(
    "[" + "".join(rx.pattern[1:-1] for d, rx in _CLASS_RE.items() if d != "zero_width") + "]"
)


def _delete_controls(text: str, seen: list[str]) -> str:
    """``text.translate(CONTROL_DELETE)``, faster: the characters ``seen`` (the first ones
    found) are removed with ``str.replace`` (a C-level copy each), any others with one
    regex pass. ``str.translate`` with a dict costs a lookup per character: on a 250 KB
    field of interleaved zero-width spaces, 3x plain text on its own."""
    for ch in dict.fromkeys(seen):
        text = text.replace(ch, "")
    return CONTROL_RE.sub("", text)


def strip_flood(text: str, limit: int = FLOOD_RUNS) -> Flood | None:
    """``text`` without its removable control characters, when there are more than
    ``limit`` of them (:data:`FLOOD_RUNS`, or fewer when the event has used up its
    allowance: :data:`FLOOD_CHARS_PER_EVENT`); ``None`` otherwise (the caller takes the
    exact path).

    Every step is a C-speed regex or string pass: the cost stays a small multiple of
    plain text of the same size however the characters are interleaved. Joiners that
    shape Arabic/Indic script or join emoji are kept.
    """
    if _HOLD_ZWNJ in text or _HOLD_ZWJ in text:
        return None
    limit = max(0, min(limit, FLOOD_RUNS))
    if not _has_controls(text):
        return None
    first = [m.group() for m in itertools.islice(CONTROL_RE.finditer(text), limit + 1)]
    if len(first) <= limit:
        return None
    held = text
    if "\u200c" in held:
        held = _KEEP_ZWNJ.sub(_HOLD_ZWNJ, held)
    if "\u200d" in held:
        held = _KEEP_ZWJ.sub(_HOLD_ZWJ, held)
    out = _delete_controls(held, first)
    if len(held) - len(out) <= limit:
        return None
    out = out.replace(_HOLD_ZWNJ, "\u200c").replace(_HOLD_ZWJ, "\u200d")
    spans: dict[str, tuple[int, int]] = {}
    # (one scan tells whether any class but zero-width is there: the usual flood has none)
    others = _NOT_ZERO_WIDTH.search(held) is not None
    for det, rx in _CLASS_RE.items():
        if det != "zero_width" and not others:
            continue
        hit = rx.search(held)
        if hit is None:
            continue
        last = rx.search(held[::-1])
        end = len(held) - last.start() if last is not None else hit.end()
        spans[det] = (hit.start(), end)
    hidden = ""
    if "tag_characters" in spans:
        tags = "".join(_CLASS_RE["tag_characters"].findall(text, 0, len(text))[:4096])
        hidden = tags.translate(_TAG_DROP).translate(_TAG_TO_ASCII)
    return Flood(out, spans, hidden)


def prepare(text: str) -> Prepared:
    """The matching view of ``text`` with its index map and the control characters found."""
    is_ascii = text.isascii()
    if is_ascii and not _ASCII_CTRL.search(text):
        return Prepared(text)
    prep = Prepared(text)
    if is_ascii or _has_controls(text):
        _scan_controls(text, prep)
    if not prep.removed and (
        is_ascii or (unicodedata.is_normalized("NFKC", text) and not _SURROGATE.search(text))
    ):
        return prep
    parts: list[str] = []
    index_map: list[int] = []
    pos = 0
    for start, end in [*prep.removed, (len(text), len(text))]:
        if start > pos:
            _fold(text, pos, start, parts, index_map)
        pos = end
    prep.view = "".join(parts)
    prep.index_map = index_map
    return prep


def view_is_text(text: str) -> bool:
    """``prepare(text).index_map is None`` (the view is ``text`` itself), without building
    the view: stops at the first removable character, so a field full of them costs one
    regex search, not a run, fold and map entry each."""
    if text.isascii():
        return not _ASCII_CTRL.search(text)
    for m in CONTROL_RE.finditer(text):
        i = m.start()
        if ord(text[i]) in (0x200C, 0x200D) and _keep_joiner(text, i):
            continue
        return False
    return unicodedata.is_normalized("NFKC", text) and not _SURROGATE.search(text)


def _fold(text: str, lo: int, hi: int, parts: list[str], index_map: list[int]) -> None:
    seg = text[lo:hi]
    if seg.isascii() or (unicodedata.is_normalized("NFKC", seg) and not _SURROGATE.search(seg)):
        parts.append(seg)
        index_map.extend(range(lo, hi))
        return
    for i in range(lo, hi):
        ch = text[i]
        if ch.isascii():
            parts.append(ch)
            index_map.append(i)
            continue
        cp = ord(ch)
        folded = "\ufffd" if 0xD800 <= cp <= 0xDFFF else unicodedata.normalize("NFKC", ch)
        parts.append(folded)
        index_map.extend([i] * len(folded))


#: Look-alike tokens per field beyond which the field is reported as one flood: a single
#: ``confusable_mixed_script`` finding from the first such token to the end of the field
#: (fail closed: the rest is flagged, not scanned token by token).
CONFUSABLE_FLOOD = 32
#: Look-alike tokens per event (all fields) reported one by one; past them each further
#: field with one is reported as a flood (one span to its end): 128 arguments of
#: look-alike prose would otherwise match 33 tokens apiece.
CONFUSABLE_PER_EVENT = 8 * CONFUSABLE_FLOOD


@functools.cache
def _confusable_token() -> Any:
    """RE2 matching a token that mixes an ASCII letter with a letter of a look-alike script.

    The letters are those for which ``str.isalpha()`` holds and whose Unicode name starts
    with one of :data:`_CONFUSABLE_SCRIPTS` (all below U+10000); built once, on the first
    non-ASCII view. RE2 keeps the scan linear however long a token is.
    """
    letters = "".join(
        re.escape(chr(cp))
        for cp in range(0x0370, 0x10000)
        if not 0xD800 <= cp <= 0xDFFF
        and chr(cp).isalpha()
        and unicodedata.name(chr(cp), "").split(" ", 1)[0] in _CONFUSABLE_SCRIPTS
    )
    tok = r"[^\s\"'<>()\[\]{},;|`]*"
    conf = f"[{letters}]"
    return re2.compile(f"{tok}(?:[A-Za-z]{tok}{conf}|{conf}{tok}[A-Za-z]){tok}", RE2_QUIET)


def confusable_spans(view: str, limit: int | None = None) -> list[tuple[int, int]]:
    """View spans of tokens (identifiers, URLs, words) that mix Latin with a look-alike script.

    Only non-ASCII views can contain such a token; the caller skips ASCII views. At most
    ``limit`` spans (the first ones) are returned: the scan stops there, so a field of
    look-alike tokens costs no more than the findings it can report.
    """
    spans: list[tuple[int, int]] = []
    if view.isascii():
        return spans
    for m in _confusable_token().finditer(view):
        spans.append(m.span())
        if limit is not None and len(spans) >= limit:
            break
    return spans


def confusable_report(view: str) -> list[tuple[int, int]]:
    """The spans to report as look-alike tokens: each one, or past
    :data:`CONFUSABLE_FLOOD` of them one span from the first to the end of ``view``."""
    return counted_confusable_report(view, CONFUSABLE_FLOOD)[0]


def counted_confusable_report(view: str, left: int) -> tuple[list[tuple[int, int]], int]:
    """:func:`confusable_report` with at most ``left`` (the event's allowance) tokens
    reported one by one, and the number of tokens matched (the work to count)."""
    limit = max(0, min(left, CONFUSABLE_FLOOD))
    spans = confusable_spans(view, limit + 1)
    if len(spans) > limit:
        return [(spans[0][0], len(view))], len(spans)
    return spans, len(spans)
