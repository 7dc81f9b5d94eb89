"""Speed figures of ``sluice bench detect``: sanitize-stage throughput on ~1 KB events,
time per byte of adversarial inputs from 10 KB to 1 MB (the linear-time check), and the
cost of adversarial inputs against plain text of the same size (:mod:`.cost`)."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from sluice.sanitize import Sanitizer
from sluice.tools.bench.detect.cost import COST_KINDS, adversarial_cost
from sluice.tools.bench.detect.samples import event, secret_sample, words

# the cost rows moved to .cost; re-exported for existing callers
__all__ = ["COST_KINDS", "adversarial_cost", "linear_time", "throughput"]


def throughput(
    s: Sanitizer, rng: random.Random, dirty_share: float, seconds: float = 1.5
) -> dict[str, float]:
    events = []
    for i in range(200):
        content = " ".join(words(rng, 12) for _ in range(6)).capitalize() + "."
        if rng.random() < dirty_share:
            content += " " + secret_sample(rng)
        events.append(event(rng, content[:700] if i % 2 else content[:640]))
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        for ev in events:
            s.sanitize_event(ev)
        n += len(events)
    dt = time.perf_counter() - t0
    size = sum(len(json.dumps(e)) for e in events) / len(events)
    return {
        "events_per_s": round(n / dt),
        "us_per_event": round(dt / n * 1e6, 2),
        "avg_event_bytes": round(size),
    }


def _adversarial(kind: str, size: int) -> str:
    unit = {
        "repeated_char": "a",
        "aws_prefix": "AKIA",
        "password_assign": "password=",
        "open_tags": "<a ",
        "sql_or": "' or 1=",
        "digits_spaces": "1 ",
        "private_key_header": "-----BEGIN PRIVATE KEY-----A",
        "zero_width": "a\u200b",
        "ignore_phrase": "ignore previous ",
        "base64ish": "QUFB",
        "email_like": "a.b@",
    }[kind]
    return (unit * (size // len(unit) + 1))[:size]


def linear_time(s: Sanitizer) -> dict[str, Any]:
    sizes = (10_000, 100_000, 1_000_000)
    kinds = (
        "repeated_char",
        "aws_prefix",
        "password_assign",
        "open_tags",
        "sql_or",
        "digits_spaces",
        "private_key_header",
        "zero_width",
        "ignore_phrase",
        "base64ish",
        "email_like",
    )
    result: dict[str, Any] = {}
    worst = 0.0
    for kind in kinds:
        per: dict[str, float] = {}
        for size in sizes:
            text = _adversarial(kind, size)
            reps = 3 if size < 1_000_000 else 1
            best = float("inf")
            for _ in range(reps):
                t0 = time.perf_counter()
                s.scan_text(text, "sql")
                best = min(best, time.perf_counter() - t0)
            per[str(size)] = round(best / size * 1e9, 1)  # ns per byte
        ratio = per[str(sizes[-1])] / max(per[str(sizes[0])], 1e-9)
        worst = max(worst, ratio)
        result[kind] = {"ns_per_byte": per, "ratio_1mb_to_10kb": round(ratio, 2)}
    return {"cases": result, "worst_ratio_1mb_to_10kb": round(worst, 2)}
