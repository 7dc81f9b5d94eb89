"""Prompt-injection classifier: logistic regression over hashed character and word n-grams.

The model ships in the package (``models/prompt_injection.npz``, a few hundred KB; its
SHA-256 is recorded in ``models/prompt_injection.json`` and checked at load). Inference is
numpy only, vectorised, linear in the text:

1. normalise: NFKC, invisible characters removed, lower-cased, and, in text that is mostly
   Latin, Cyrillic/Greek look-alike letters folded to their Latin twins (so ``ignore``
   spelt with Cyrillic i, o and e reads ``ignore``);
2. features: character 3-, 4- and 5-grams and word 1- and 2-grams, each hashed (a
   polynomial hash over the code points, mixed) into ``2**bits`` buckets;
3. score: ``bias + sum(w[bucket]) / sqrt(n_features)`` for the whole text and for
   windows of ``2 * stride`` characters every ``stride``; the highest score wins and its
   window is the finding's span, so an instruction hidden in a long email still stands
   out. ``probability = sigmoid(score)``.

The featuriser here is the one the training script (``scripts/train_prompt_classifier.py``)
uses, so training and serving cannot drift apart. ``Model.raw`` scores texts of up to one
chunk with :func:`sluice.sanitize.pi_kernel.score_chunk`, which sums the same features'
weights without listing their positions (a unit test holds it to the feature list).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import re2

from sluice.sanitize.pi_kernel import (
    _CHUNK,
    _MIX2,
    _P,
    _SALT,
    U64,
    _after_break,
    _is_word,
    _mix,
    _powers,
    score_chunk,
)

__all__ = [
    "MIN_CHARS",
    "MODEL_PATH",
    "Model",
    "Verdict",
    "featurize",
    "load_model",
    "normalize",
]

MODEL_PATH = Path(__file__).with_name("models") / "prompt_injection.npz"
META_PATH = MODEL_PATH.with_suffix(".json")
#: Fields shorter than this are not classified (nothing that short steers a model).
MIN_CHARS = 12
#: Texts with fewer distinct characters than this are not classified (floods, ids).
MIN_DISTINCT = 8
# Texts are featurised in chunks of at most _CHUNK characters (bounds the tables),
# overlapping by this many.
_OVERLAP = 256
_CHAR_NS = (3, 4, 5)

# Marks of *data* (an email, a table, code, a document) rather than a request: inside
# data, words get a second, context-salted feature, so that "describe ..." on a line of
# an email can weigh differently from the same words typed as a prompt.
_DATA_MARKS = (
    "subject:", "from:", "email_from", "received date", "dear ", "regards", "sent from",
    "| ", " |", "```", "def ", "import ", "return ", "function ", "#include", "};",
    "class ", "=>", "<td", "<div", "<p>", "\t", "traceback",
)  # fmt: skip

_INVISIBLE = dict.fromkeys(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        *range(0xFE00, 0xFE10),
        *range(0xE0000, 0xE0080),
    ]
)
# Cyrillic and Greek letters that look like Latin ones (lower case; NFKC already folded
# fullwidth and mathematical alphanumerics).
_LOOKALIKE = {
    0x0430: "a",
    0x0432: "b",
    0x0435: "e",
    0x0451: "e",
    0x043A: "k",
    0x043C: "m",
    0x043D: "h",
    0x043E: "o",
    0x0440: "p",
    0x0441: "c",
    0x0442: "t",
    0x0443: "y",
    0x0445: "x",
    0x0456: "i",
    0x0457: "i",
    0x0458: "j",
    0x0455: "s",
    0x04BB: "h",
    0x0501: "d",
    0x051B: "q",
    0x051D: "w",
    0x04CF: "l",
    0x0261: "g",
    0x0131: "i",
    0x03B1: "a",
    0x03B2: "b",
    0x03B5: "e",
    0x03B7: "n",
    0x03B9: "i",
    0x03BA: "k",
    0x03BD: "v",
    0x03BF: "o",
    0x03C1: "p",
    0x03C4: "t",
    0x03C5: "u",
    0x03C7: "x",
    0x03B3: "y",
    0x03C9: "w",
}
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKE)


def normalize(text: str) -> str:
    """The classifier's view of ``text``: same length when ``text`` is ASCII."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).lower()
    latin = sum(1 for c in text if "a" <= c <= "z")
    if latin * 2 > sum(1 for c in text if c.isalpha()):
        text = text.translate(_LOOKALIKE_TABLE)
    return text


@functools.cache
def _marks() -> Any:
    return re2.compile("|".join(re2.escape(m) for m in _DATA_MARKS))


def data_context(norm: str) -> bool:
    """True when a normalised text looks like data (email, table, code, document)."""
    if len(norm) < 120:
        return False
    if norm.count("\n") >= 4:
        return True
    found = set()
    for m in _marks().finditer(norm):
        found.add(m.group())
        if len(found) >= 2:
            return True
    return False


def _chunk_features(
    text: str, bits: int, offset: int, ctx: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(bucket, position) of every feature of one normalised chunk."""
    codes = np.frombuffer(
        ("\x02" + text + "\x03").encode("utf-32-le", "surrogatepass"), dtype="<u4"
    ).astype(U64)
    n = len(codes)
    if n < 5:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    base = np.arange(n, dtype=np.int64)
    hs: list[npt.NDArray[np.uint64]] = []
    pos: list[npt.NDArray[np.int64]] = []
    with np.errstate(over="ignore"):
        c = codes + U64(1)
        # rolling polynomial hashes of the 3-, 4- and 5-grams starting at each position
        h = c[:-1] * _P + c[1:]
        for k in (3, 4, 5):
            h = h[:-1] * _P + c[k - 1 :]
            hs.append(h + _SALT[k])
            pos.append(base[: n - k + 1])
        word = _is_word(codes)
        edges = np.flatnonzero(np.diff(np.concatenate(([False], word, [False])).astype(np.int8)))
        ws, we = edges[0::2], edges[1::2]
        if len(ws):
            pw, inv = _powers()
            g = np.empty(n + 1, dtype=U64)
            g[0] = 0
            np.cumsum(c * inv[:n], dtype=U64, out=g[1:])
            wh = pw[we - 1] * (g[we] - g[ws])
            bh = wh[:-1] * _MIX2 + wh[1:]
            hs += [wh + _SALT["w1"], bh + _SALT["w2"]]
            pos += [ws, ws[:-1]]
            if ctx:
                hs += [wh + _SALT["d1"], bh + _SALT["d2"]]
                pos += [ws, ws[:-1]]
                # first word of each line or sentence (the sentinel starts the first)
                first = np.flatnonzero(_after_break(codes, ws))
                hs.append(wh[first] + _SALT["dl"])
                pos.append(ws[first])
        idx = _mix(np.concatenate(hs), bits)
    # positions: in the chunk's text (the sentinel shifts them by one)
    return idx, np.maximum(np.concatenate(pos) - 1, 0) + offset


def featurize(text: str, bits: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Buckets and start positions of the features of an already normalised text."""
    ctx = data_context(text)
    if len(text) <= _CHUNK:
        return _chunk_features(text, bits, 0, ctx)
    idx: list[npt.NDArray[np.int64]] = []
    pos: list[npt.NDArray[np.int64]] = []
    step = _CHUNK - _OVERLAP
    for lo in range(0, len(text), step):
        i, p = _chunk_features(text[lo : lo + _CHUNK], bits, lo, ctx)
        if lo:  # features starting in the overlap were counted by the previous chunk
            keep = p >= lo + _OVERLAP
            i, p = i[keep], p[keep]
        idx.append(i)
        pos.append(p)
        if lo + _CHUNK >= len(text):
            break
    return np.concatenate(idx), np.concatenate(pos)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classifier's answer for one text: probability and the best window's span."""

    probability: float
    start: int
    end: int


class Model:
    """Weights, bias and decision threshold of the shipped classifier."""

    def __init__(
        self,
        weights: npt.NDArray[np.floating],
        bias: float,
        threshold: float,
        stride: int,
        window_margin: float = 0.0,
    ) -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bits = int(math.log2(len(self.weights)))
        if 1 << self.bits != len(self.weights):
            raise ValueError("weight vector length must be a power of two")
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.stride = int(stride)
        self.window_margin = float(window_margin)

    def raw(self, text: str) -> tuple[float, float, int, int]:
        """(whole-text logit, best window logit or -inf, window start, window end)."""
        norm = normalize(text)
        if len(set(norm[:256])) < MIN_DISTINCT and len(set(norm)) < MIN_DISTINCT:
            # a flood of a few characters carries no instruction (and floods of one
            # repeated token are the commonest filler of the attack game's data)
            return -50.0, -math.inf, 0, len(text)
        if 3 <= len(norm) <= _CHUNK:
            whole, win, j = score_chunk(
                self.weights, self.bias, self.stride, norm, data_context(norm)
            )
            if win == -math.inf:
                return whole, win, 0, len(text)
            start, end = j * self.stride, min(len(norm), (j + 2) * self.stride)
            if len(norm) != len(text):
                start, end = 0, len(text)
            return whole, win, start, end
        return self._raw_features(text, norm)

    def _raw_features(self, text: str, norm: str) -> tuple[float, float, int, int]:
        """``raw`` from :func:`featurize`'s list of features (texts beyond one chunk; and
        the reference the kernel is tested against)."""
        idx, pos = featurize(norm, self.bits)
        if len(idx) == 0:
            return self.bias, -math.inf, 0, len(text)
        contrib = self.weights[idx]
        whole = self.bias + float(contrib.sum()) / math.sqrt(len(idx))
        stride = self.stride
        if len(norm) <= 2 * stride:
            return whole, -math.inf, 0, len(text)
        nblk = len(norm) // stride + 1
        blk = pos // stride
        sums = np.bincount(blk, weights=contrib, minlength=nblk)
        cnts = np.bincount(blk, minlength=nblk)
        wsum = sums[:-1] + sums[1:]
        wcnt = cnts[:-1] + cnts[1:]
        ok = wcnt >= stride  # a full window, not a tail of a few characters
        if not ok.any():
            return whole, -math.inf, 0, len(text)
        wscore = np.where(ok, self.bias + wsum / np.sqrt(np.maximum(wcnt, 1)), -np.inf)
        j = int(np.argmax(wscore))
        start, end = j * stride, min(len(norm), (j + 2) * stride)
        if len(norm) != len(text):
            start, end = 0, len(text)
        return whole, float(wscore[j]), start, end

    def score(self, text: str) -> Verdict:
        """Probability that ``text`` carries a prompt injection, and where.

        The whole text and every window are scored; a window's logit is lowered by
        ``window_margin`` (the maximum of many windows is biased upwards). Spans are in
        ``text``'s indices when normalisation kept its length (always for ASCII), else
        the whole text.
        """
        whole, win, start, end = self.raw(text)
        if win - self.window_margin > whole:
            return Verdict(_sigmoid(win - self.window_margin), start, end)
        return Verdict(_sigmoid(whole), 0, len(text))


def _sigmoid(x: float) -> float:
    if x < -60:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def model_sha256(path: Path = MODEL_PATH) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.cache
def load_model(path: Path = MODEL_PATH) -> Model:
    """The shipped model; its file hash must match the one recorded beside it.

    Raises:
        ValueError: the model file's SHA-256 differs from the recorded one.
    """
    meta = json.loads(path.with_suffix(".json").read_text())
    digest = model_sha256(path)
    if digest != meta["sha256"]:
        raise ValueError(f"{path.name}: sha256 {digest} != recorded {meta['sha256']}")
    with np.load(path) as z:
        return Model(
            z["weights"],
            float(z["bias"]),
            float(z["threshold"]),
            int(z["stride"]),
            float(z["window_margin"]),
        )
