"""Speed figures of ``sluice bench detect``: sanitize-stage throughput on ~1 KB events,
time per byte of adversarial inputs from 10 KB to 1 MB (the linear-time check), and the
cost of adversarial inputs against plain text of the same size."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from sluice.sanitize import Sanitizer
from sluice.tools.bench.detect.samples import event, secret_sample, words

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


# -- cost of adversarial inputs against plain text of the same size ---------------------


def _cost_text(kind: str, size: int) -> str:
    unit = {
        "plain": "the quarterly report was approved by the review board after the audit. ",
        "phone_like": "+1 (555) 010-2233 call 0151 496 0373 or 06 12 34 56 78, ",
        "iban_like": "GB82 WEST 1234 5698 7654 32 de44500105175407324931 ",
        "card_like": "4111 1111 1111 1112 5500-0000-0000-0004 378282246310006 ",
        "zero_width_interleaved": "\u200b".join("password=x ") + "\u200b",
        "secret_like_run": "api_key=Zx9Kq2Lm8Np4Rt6Vw1Ys3Bd5Fh7Jk0 ghp_ token AKIA ",
        "split_token_like": "gh p_ab12 cd34 ef56 AK IA12 34-56-78 ",
        "encoded_like": "QUtJQTEyMzQ1Njc4OTAxMjM0NTY= 414b4941 %41%4B%49 &#65;&#75; ",
        "email_like": "a.b@c.d e.f@g.h ",
    }[kind]
    return (unit * (size // len(unit) + 1))[:size]


def _timed(fn: Any, reps: int = 2) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


COST_KINDS = (
    "phone_like",
    "iban_like",
    "card_like",
    "zero_width_interleaved",
    "secret_like_run",
    "split_token_like",
    "encoded_like",
    "email_like",
)


def adversarial_cost(s: Sanitizer, size: int = 250_000, args: int = 128) -> dict[str, Any]:
    """Seconds per event for adversarial text vs plain text of the same size: one field
    of ``size`` characters, and an event whose ``args`` arguments share ``size``."""

    def one_field(kind: str) -> float:
        text = _cost_text(kind, size)
        return _timed(lambda: s.scan_text(text))

    def many_args(kind: str) -> float:
        part = _cost_text(kind, size // args)
        rng = random.Random(0)
        ev = event(rng, "summary")
        ev["arguments"] = {f"a{i}": part for i in range(args)}
        return _timed(lambda: s.sanitize_event(ev))

    def secrets_only(kind: str) -> float:
        # the secret family alone (Sanitizer.redact: secret rules and their variants)
        text = _cost_text(kind, size)
        return _timed(lambda: s.redact(text))

    base_field, base_args = one_field("plain"), many_args("plain")
    base_secrets = secrets_only("plain")
    cases: dict[str, Any] = {}
    worst = 0.0
    for kind in COST_KINDS:
        f, a = one_field(kind), many_args(kind)
        rf, ra = f / base_field, a / base_args
        worst = max(worst, rf, ra)
        cases[kind] = {
            "field_s": round(f, 4),
            "args_event_s": round(a, 4),
            "ratio_field": round(rf, 2),
            "ratio_args": round(ra, 2),
            "ratio_secrets_only": round(secrets_only(kind) / base_secrets, 2),
        }
    return {
        "size": size,
        "args": args,
        "plain_field_s": round(base_field, 4),
        "plain_args_event_s": round(base_args, 4),
        "cases": cases,
        "worst_ratio_to_plain": round(worst, 2),
    }
