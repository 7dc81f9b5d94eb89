"""Hashing primitives of the prompt-injection classifier and its scoring kernel.

:func:`sluice.sanitize.pi_classifier.featurize` lists every feature of a text (bucket and
position; the training script uses it). Serving needs less: the sum of the features'
weights over the whole text and over each window. :func:`score_chunk` computes exactly
that from the same hashes with fewer numpy calls and passes: the hashes are written in
place into one buffer in ``featurize``'s order and mixed in place; no position array, no
``bincount``. The whole-text sum is the same float32 sum over the same array as before.
A character n-gram starts at every position, so for the windows the weights are added
to a per-position float64 array by slices (the words' by index) and summed per block
with ``np.add.reduceat``; the features per window are counted, not tallied. Block sums
equal ``bincount``'s exactly for the shipped float16-valued weights (float64 sums of
them are exact), and to ~1e-12 for any float32 weights.
``tests/unit/sanitize/test_pi_kernel.py`` holds the kernel to the feature list's scores.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import numpy.typing as npt

#: Texts are featurised in chunks of at most this many characters (bounds the tables).
_CHUNK = 1 << 15

U64 = np.uint64
_P = U64(0x100000001B3)  # FNV prime: odd, so invertible modulo 2**64
_MIX1 = U64(0xFF51AFD7ED558CCD)
_MIX2 = U64(0xC4CEB9FE1A85EC53)
_SALT = {
    3: U64(0x9E3779B97F4A7C15),
    4: U64(0xBF58476D1CE4E5B9),
    5: U64(0x94D049BB133111EB),
    "w1": U64(0x2545F4914F6CDD1D),
    "w2": U64(0x5851F42D4C957F2D),
    "d1": U64(0x14057B7EF767814F),
    "d2": U64(0x2127599BF4325C37),
    "dl": U64(0x9FB21C651E98DF25),
}


@functools.cache
def _powers() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """P**j and P**-j modulo 2**64 for j < _CHUNK + 1 (numpy integer products wrap)."""
    p_inv = U64(pow(int(_P), -1, 1 << 64))
    n = _CHUNK + 2
    with np.errstate(over="ignore"):
        pw = np.cumprod(np.full(n, _P, dtype=U64), dtype=U64)
        inv = np.cumprod(np.full(n, p_inv, dtype=U64), dtype=U64)
    pw = np.concatenate(([U64(1)], pw[:-1]))
    inv = np.concatenate(([U64(1)], inv[:-1]))
    return pw, inv


def _mix(h: npt.NDArray[np.uint64], bits: int) -> npt.NDArray[np.int64]:
    """Bucket of each 64-bit hash: xor-shift then multiplicative (Fibonacci) hashing."""
    h = (h ^ (h >> U64(29))) * _MIX1
    return (h >> U64(64 - bits)).astype(np.int64)


@functools.cache
def _word_table() -> npt.NDArray[np.bool_]:
    """Word characters of the Basic Multilingual Plane (beyond it: all word characters)."""
    t = np.ones(0x10000, dtype=bool)
    t[:128] = False
    t[ord("a") : ord("z") + 1] = True
    t[ord("0") : ord("9") + 1] = True
    t[ord("_")] = True
    # general punctuation, CJK punctuation, fullwidth punctuation, no-break space
    t[0x2000:0x2070] = False
    t[0x3000:0x3040] = False
    t[0xFF00:0xFF10] = False
    t[0xA0] = False
    return t


def _is_word(codes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = _word_table()[np.minimum(codes, U64(0xFFFF)).astype(np.intp)]
    if codes.max() > 0xFFFF:
        out |= codes > 0xFFFF
    return out


def _after_break(codes: npt.NDArray[np.uint64], ws: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Words preceded (past at most two blanks or bullets) by a line or sentence break."""
    out = np.zeros(len(ws), dtype=bool)
    run = np.ones(len(ws), dtype=bool)
    for back in (1, 2, 3):
        j = ws - back
        valid = j >= 0
        c = codes[np.maximum(j, 0)]
        brk = (c == 10) | (c == 2) | (c == 46) | (c == 63) | (c == 33) | (c == 124) | (c == 58)
        out |= run & valid & brk
        run &= valid & ((c == 32) | (c == 9) | (c == 45) | (c == 42) | (c == 35) | (c == 62))
    return out


def word_mask(codes: npt.NDArray[np.unsignedinteger]) -> npt.NDArray[np.bool_]:
    """:func:`_is_word` of code points of any unsigned width (uint8 for ASCII text)."""
    if codes.dtype == np.uint8:
        out: npt.NDArray[np.bool_] = _word_table()[codes]
        return out
    return _is_word(codes.astype(U64))


def score_chunk(
    weights: npt.NDArray[np.float32], bias: float, stride: int, norm: str, ctx: bool
) -> tuple[float, float, int]:
    """(whole-text logit, best window logit or -inf, its window index) of a normalised
    text of 3 to ``_CHUNK`` characters; windows as ``Model.raw`` defines them."""
    s = "\x02" + norm + "\x03"
    if s.isascii():
        codes: npt.NDArray[np.unsignedinteger] = np.frombuffer(s.encode("ascii"), np.uint8)
    else:
        codes = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), "<u4")
    n = len(codes)
    word = word_mask(codes)
    edges = np.nonzero(word[1:] != word[:-1])[0]
    edges += 1
    ws, we = edges[0::2], edges[1::2]
    nw = len(ws)
    brk = _after_break(codes, ws) if ctx and nw else None
    nfirst = int(np.count_nonzero(brk)) if brk is not None else 0
    # every feature's hash, in featurize's order: 3-, 4-, 5-grams, words, word pairs
    # (and in data: words, pairs and line-initial words again, salted apart)
    lens = [n - 2, n - 3, n - 4]
    if nw:
        lens += [nw, nw - 1] + ([nw, nw - 1, nfirst] if brk is not None else [])
    offs = [0, *itertools.accumulate(lens)]
    h = np.empty(offs[-1], dtype=U64)
    seg = [h[offs[k] : offs[k + 1]] for k in range(len(lens))]
    # (integer arrays wrap modulo 2**64 without a warning: no errstate needed)
    c = codes.astype(U64)
    c += 1
    h2 = c[:-1] * _P
    h2 += c[1:]
    prev = h2
    for k in range(3):  # rolling polynomial hashes of the 3-, 4- and 5-grams
        np.multiply(prev[:-1], _P, out=seg[k])
        seg[k] += c[k + 2 :]
        prev = seg[k]
    for k, salt in enumerate((_SALT[3], _SALT[4], _SALT[5])):
        seg[k] += salt
    if nw:
        pw, inv = _powers()
        g = np.empty(n + 1, dtype=U64)
        g[0] = 0
        np.cumsum(c * inv[:n], dtype=U64, out=g[1:])
        wh, bh = seg[3], seg[4]
        np.subtract(g[we], g[ws], out=wh)
        wh *= pw[we - 1]
        np.multiply(wh[:-1], _MIX2, out=bh)
        bh += wh[1:]
        if brk is not None:
            np.add(wh, _SALT["d1"], out=seg[5])
            np.add(bh, _SALT["d2"], out=seg[6])
            np.add(wh[brk], _SALT["dl"], out=seg[7])
        wh += _SALT["w1"]
        bh += _SALT["w2"]
    # bucket: xor-shift then multiplicative (Fibonacci) hashing, as _mix
    h ^= h >> U64(29)
    h *= _MIX1
    h >>= U64(64 - (len(weights).bit_length() - 1))
    contrib = weights[h.view(np.int64)]  # buckets < 2**bits: a free view
    whole = bias + float(contrib.sum()) / math.sqrt(len(contrib))
    size = n - 2  # len(norm)
    if size <= 2 * stride:
        return whole, -math.inf, 0
    seg_w = [contrib[offs[k] : offs[k + 1]] for k in range(len(lens))]
    # Windows: the weights are added up per start position (framed: the leading
    # sentinel is position 0), by slices for the character n-grams (one starts at every
    # position) and by index for the words; block b holds text positions
    # [b * stride, (b + 1) * stride), framed positions from b * stride + 1 (block 0 also
    # position 0). Sums in float64, as bincount made them; feature counts are counted.
    per = np.zeros(n)
    for k in range(3):
        per[: lens[k]] += seg_w[k]
    if nw:
        per[ws] += seg_w[3]
        per[ws[:-1]] += seg_w[4]
        if brk is not None:
            per[ws] += seg_w[5]
            per[ws[:-1]] += seg_w[6]
            per[ws[brk]] += seg_w[7]
    nblk = size // stride + 1
    cuts = [0, *range(stride + 1, nblk * stride + 1, stride)]
    sums = np.add.reduceat(per, cuts).tolist()
    cuts.append(n)
    # character n-grams starting before each cut: three per position, fewer at the end
    below = [3 * x if x <= n - 4 else min(x, n - 2) + min(x, n - 3) + n - 4 for x in cuts]
    if nw:
        per_word = 4 if brk is not None else 2
        for b, m in enumerate(np.searchsorted(ws, cuts).tolist()):
            below[b] += per_word * m - (per_word // 2 if m == nw else 0)
        if brk is not None:
            for b, m in enumerate(np.searchsorted(ws[brk], cuts).tolist()):
                below[b] += m
    best, j = -math.inf, 0
    for b in range(nblk - 1):
        wcnt = below[b + 2] - below[b]
        if wcnt >= stride:  # a full window, not a tail of a few characters
            score = bias + (sums[b] + sums[b + 1]) / math.sqrt(wcnt)
            if score > best:
                best, j = score, b
    return whole, best, j
