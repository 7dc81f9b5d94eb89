"""Held-out evaluation of ``sluice bench detect`` on public data (secrets, PII).

The sets live in ``sluice/tools/bench/data`` (built by ``scripts/build_secret_pii_eval.py``;
sources, licences and sizes in docs/detection.md). "dev" was looked at while tuning,
"heldout" only ever scored. They are separate from the generated samples
(:mod:`sluice.tools.bench.detect.samples`).
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any

from sluice.sanitize import Sanitizer

__all__ = ["heldout_quality", "pii_eval", "secrets_eval"]


def _jsonl(name: str) -> list[dict[str, Any]]:
    text = (resources.files("sluice.tools.bench") / "data" / name).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def _text(row: dict[str, Any]) -> str:
    """A row's text: plain ``text``, or ``text_b64`` (sets whose provider-shaped tokens
    are kept out of the repository's plain text)."""
    if "text_b64" in row:
        return base64.b64decode(row["text_b64"]).decode("utf-8")
    return str(row["text"])


def secrets_eval(s: Sanitizer, name: str) -> dict[str, Any]:
    """Line-level precision/recall of the secret family on a labelled set."""
    tp = fp = fn = tn = 0
    for row in _jsonl(name):
        _, findings = s.scan_text(_text(row))
        found = any(f.kind.value == "secret" for f in findings)
        if row["label"]:
            tp, fn = tp + found, fn + (not found)
        else:
            fp, tn = fp + found, tn + (not found)
    return {**_prf(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "lines": tp + fp + fn + tn}


def pii_eval(s: Sanitizer, name: str) -> dict[str, Any]:
    """Span recall (a labelled span overlapped by a PII finding), span precision, and the
    share of benign texts with no PII finding."""
    spans = hit = found = true_found = benign = clean = 0
    per_kind: dict[str, list[int]] = {}
    for row in _jsonl(name):
        _, findings = s.scan_text(row["text"])
        pii = [f for f in findings if f.kind.value == "pii"]
        if not row["spans"]:
            benign += 1
            clean += not pii
            continue
        found += len(pii)
        true_found += sum(any(f.start < b and a < f.end for a, b, _ in row["spans"]) for f in pii)
        for a, b, kind in row["spans"]:
            ok = any(f.start < b and a < f.end for f in pii)
            spans, hit = spans + 1, hit + ok
            k = per_kind.setdefault(kind, [0, 0])
            k[0], k[1] = k[0] + ok, k[1] + 1
    return {
        "span_recall": round(hit / spans, 4) if spans else 1.0,
        "span_precision": round(true_found / found, 4) if found else 1.0,
        "benign_clean": round(clean / benign, 4) if benign else 1.0,
        "spans": spans,
        "benign_texts": benign,
        "recall_by_kind": {k: round(v[0] / v[1], 4) for k, v in sorted(per_kind.items())},
    }


def heldout_quality(s: Sanitizer) -> dict[str, Any]:
    """Secrets and PII scored on the public-data sets (dev and held-out splits)."""
    return {
        "secrets": {
            "heldout": secrets_eval(s, "secrets_heldout.jsonl"),
            "dev": secrets_eval(s, "secrets_dev.jsonl"),
            "source": "Yelp/detect-secrets tests/plugins (Apache-2.0)",
        },
        "secrets_np": {
            "heldout": secrets_eval(s, "secrets_np_heldout.jsonl"),
            "dev": secrets_eval(s, "secrets_np_dev.jsonl"),
            "source": "praetorian-inc/noseyparker rule examples @2e6e7f3 (Apache-2.0)",
        },
        "pii": {
            "heldout": pii_eval(s, "pii_heldout.jsonl"),
            "dev": pii_eval(s, "pii_dev.jsonl"),
            "source": "Faker values (MIT) in sentences; Python stdlib docstrings (PSF)",
        },
    }
