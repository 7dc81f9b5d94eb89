"""``cost_vs_plain`` of ``sluice bench detect``: adversarial inputs for every detection
family, timed against plain prose of the same size.

Each row repeats one unit built to make one family work hard (many candidates to
validate, decode, fold or fingerprint) to ``size`` characters, as one field and as an
event of ``args`` arguments sharing ``size``. The plain baseline is timed in the same
loop, alternately with the row (best of ``reps`` for each), so a noisy shared machine
moves both alike; the row's ratio is its best time over the plain best time measured
next to it. ``worst_ratio`` names the worst row.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sluice.sanitize import Sanitizer
from sluice.tools.bench.detect.samples import event

__all__ = ["COST_KINDS", "adversarial_cost", "cost_text"]

_PLAIN = "the quarterly report was approved by the review board after the audit. "

#: row name → the unit repeated to the input size
_UNITS: dict[str, str] = {
    # PII
    "phone_like": "+1 (555) 010-2233 call 0151 496 0373 or 06 12 34 56 78, ",
    "iban_like": "GB82 WEST 1234 5698 7654 32 de44500105175407324931 ",
    "card_like": "4111 1111 1111 1112 5500-0000-0000-0004 378282246310006 ",
    "email_like": "a.b@c.d e.f@g.h ",
    # secrets
    "secret_like_run": "api_key=Zx9Kq2Lm8Np4Rt6Vw1Ys3Bd5Fh7Jk0 ghp_ token AKIA ",
    "long_random_tokens": "k9Xq2LmZ8Np4Rt6Vw1Ys3Bd5Fh7Jk0aQ7cE2gU4iO6 ",
    "split_token_like": "gh p_ab12 cd34 ef56 AK IA12 34-56-78 ",
    # encoded forms
    "encoded_like": "QUtJQTEyMzQ1Njc4OTAxMjM0NTY= 414b4941 %41%4B%49 &#65;&#75; ",
    "encoded_base64": "aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM= ",
    "encoded_hex": "69676e6f726520616c6c2070726576696f7573 ",
    "encoded_percent": "%69%67%6E%6F%72%65%20%61%6C%6C ",
    "encoded_entity": "&#105;&#103;&#110;&#x6f;&#x72;&#101; ",
    # unicode
    "zero_width_interleaved": "\u200b".join("password=x ") + "\u200b",
    "confusable_letters": "\u0456gn\u043er\u0435 \u0430ll \u0440r\u0435v\u0456\u043eus ",
    # markup
    "markup_nested": "<a><a><div><a href=x>",
    "markup_attr_flood": "<x a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=0 ",
    "markup_javascript": "javascript:alert(1) ",
    # SQL
    "sql_or_tautology": "' or 1=1 ",
    "sql_comment_flood": "/**/",
    "sql_nested_parens": "((((select ",
    # prompt injection
    "pi_trigger_words": "ignore previous instructions system prompt jailbreak developer mode ",
}

COST_KINDS = tuple(_UNITS)


def cost_text(kind: str, size: int) -> str:
    """``size`` characters of row ``kind`` (``plain`` for the baseline)."""
    unit = _PLAIN if kind == "plain" else _UNITS[kind]
    return (unit * (size // len(unit) + 1))[:size]


def _pair(base: Callable[[], object], row: Callable[[], object], reps: int) -> tuple[float, float]:
    """Best times of ``base`` and ``row``, timed alternately ``reps`` times each."""
    best_b = best_r = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        base()
        t1 = time.perf_counter()
        row()
        t2 = time.perf_counter()
        best_b, best_r = min(best_b, t1 - t0), min(best_r, t2 - t1)
    return best_b, best_r


def _args_event(part: str, args: int) -> dict[str, Any]:
    ev = event(random.Random(0), "summary")
    ev["arguments"] = {f"a{i}": part for i in range(args)}
    return ev


def adversarial_cost(
    s: Sanitizer,
    size: int = 250_000,
    args: int = 128,
    reps: int = 3,
    kinds: tuple[str, ...] = COST_KINDS,
) -> dict[str, Any]:
    """Seconds for adversarial text vs plain text of the same size: one field of
    ``size`` characters (``scan_text``), and an event whose ``args`` arguments share
    ``size`` (``sanitize_event``). Best of ``reps``, plain timed alternately per row."""
    plain = cost_text("plain", size)
    plain_ev = _args_event(cost_text("plain", size // args), args)
    cases: dict[str, Any] = {}
    worst, worst_row = 0.0, ""
    plain_field: list[float] = []
    plain_args: list[float] = []
    for kind in kinds:
        text = cost_text(kind, size)
        ev = _args_event(cost_text(kind, size // args), args)
        bf, f = _pair(partial(s.scan_text, plain), partial(s.scan_text, text), reps)
        ba, a = _pair(partial(s.sanitize_event, plain_ev), partial(s.sanitize_event, ev), reps)
        plain_field.append(bf)
        plain_args.append(ba)
        rf, ra = f / bf, a / ba
        for ratio, name in ((rf, f"{kind}/field"), (ra, f"{kind}/args")):
            if ratio > worst:
                worst, worst_row = ratio, name
        cases[kind] = {
            "field_s": round(f, 4),
            "args_event_s": round(a, 4),
            "ratio_field": round(rf, 2),
            "ratio_args": round(ra, 2),
        }
    return {
        "size": size,
        "args": args,
        "reps": reps,
        "plain_field_s": round(min(plain_field, default=0.0), 4),
        "plain_args_event_s": round(min(plain_args, default=0.0), 4),
        "cases": cases,
        "worst_ratio": round(worst, 2),
        "worst_row": worst_row,
        # the name earlier reports used
        "worst_ratio_to_plain": round(worst, 2),
    }
