"""SQL injection and markup: scores on public labelled sets, and cost on adversarial input.

``public_eval`` scores the detectors on the JSON-lines sets in ``tests/data/detection/``
(built from public payload lists and benign values by ``scripts/build_detection_eval.py``;
sources and licences in ``docs/detection.md``), each with a development split (what the
rules were tuned on) and a held-out split (never tuned on); SQL has a second held-out set
from other sources (``extra``). SQL sets are scanned as
``sql`` fields (HTTP parameter values), markup sets as ``text`` fields; the SQL positives
are also scanned as ``text`` to show what the strict free-text rules catch.

``adversarial_cost`` times ``scan_text`` on inputs built to make SQL and markup detection
work hard (repeated SQL tokens, long comment runs, nested parentheses, percent-encoding,
deeply repeated markup) and divides by the time of plain prose of the same size and
treatment (for ``html`` fields: of ordinary HTML paragraphs of the same size, since any
markup there goes through the nh3 cleaner).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from sluice.sanitize import Sanitizer
from sluice.sanitize.sql import clear_caches

__all__ = ["ADVERSARIAL_UNITS", "adversarial_cost", "eval_dir", "public_eval", "score_set"]

#: repeated unit -> (family, treatment it is scanned as)
ADVERSARIAL_UNITS: dict[str, tuple[str, str, str]] = {
    "sql_union_select": ("union select ", "sql_injection", "sql"),
    "sql_or_tautology": ("' or 1=1 ", "sql_injection", "sql"),
    "sql_nested_parens": ("(", "sql_injection", "sql"),
    "sql_parens_select": ("((select ", "sql_injection", "sql"),
    "sql_comment_run": ("/**/", "sql_injection", "sql"),
    "sql_nested_comment": ("/*/*", "sql_injection", "sql"),
    "sql_dash_comments": ("-- x\n", "sql_injection", "sql"),
    "sql_versioned_comment": ("/*!50000union*/", "sql_injection", "sql"),
    "sql_percent_quote": ("%27", "sql_injection", "sql"),
    "sql_number_list": ("1,", "sql_injection", "sql"),
    "sql_doubled_quotes": ("''", "sql_injection", "sql"),
    "sql_function_calls": ("sin(1)=", "sql_injection", "sql"),
    "sql_union_select_text": ("' union/**/select ", "sql_injection", "text"),
    "sql_stacked_drop_text": ("1; drop table t -- ", "sql_injection", "text"),
    "markup_open_tags": ("<a ", "markup", "text"),
    "markup_repeated_div": ("<div>", "markup", "text"),
    "markup_script_tags": ("<script>", "markup", "text"),
    "markup_event_handlers": ("x onerror=alert(1) ", "markup", "text"),
    "markup_style_expression": ("<x style=x:expression(1)>", "markup", "text"),
    "markup_lt_run": ("<", "markup", "text"),
    "markup_nested_html": ("<div><a href='javascript:x()'>", "markup", "html"),
    # issue 12 breadth: decoded forms and parsed attributes
    "sql_entity_quotes": ("&#39;", "sql_injection", "sql"),
    "sql_pct_u_quotes": ("%u0027 ", "sql_injection", "sql"),
    "markup_entity_attrs": ('<a href="&#106;avascript:x" ', "markup", "text"),
    "markup_encoded_tags": ("%3Cimg%20src%3Dx%3E", "markup", "text"),
    "markup_js_breakout": ("'-alert(1)-'", "markup", "text"),
}

_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "invoice customer record update summary report pipeline deploy review approve the of to"
).split()


def eval_dir() -> Path | None:
    """``tests/data/detection`` of a source checkout, or ``None`` (e.g. an installed wheel)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "tests" / "data" / "detection"
        if cand.is_dir():
            return cand
    return None


def score_set(s: Sanitizer, path: Path, family: str, as_: str) -> dict[str, Any]:
    """Precision/recall/F1 of ``family`` findings on one labelled JSON-lines set."""
    tp = fp = fn = tn = 0
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        _, findings = s.scan_text(row["text"], as_)
        hit = any(f.kind.value == family for f in findings)
        if row["label"]:
            tp += hit
            fn += not hit
        else:
            fp += hit
            tn += not hit
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "as": as_,
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def public_eval(s: Sanitizer) -> dict[str, Any]:
    """Scores per family and split on the public sets (empty with a note when absent)."""
    d = eval_dir()
    if d is None:
        return {"note": "tests/data/detection not found (run from a source checkout)"}
    out: dict[str, Any] = {"sql_injection": {}, "markup": {}, "sql_injection_as_text": {}}
    for split in ("dev", "heldout"):
        sql = d / f"sql_{split}.jsonl"
        markup = d / f"markup_{split}.jsonl"
        if sql.exists():
            out["sql_injection"][split] = score_set(s, sql, "sql_injection", "sql")
            out["sql_injection_as_text"][split] = score_set(s, sql, "sql_injection", "text")
        if markup.exists():
            out["markup"][split] = score_set(s, markup, "markup", "text")
    # a second held-out SQL set from other sources (SecLists payloads; fuzzdb and Faker
    # values), reported on its own so that one set's quirks do not hide in the other's
    extra = d / "sql_extra.jsonl"
    if extra.exists():
        out["sql_injection"]["extra"] = score_set(s, extra, "sql_injection", "sql")
        out["sql_injection_as_text"]["extra"] = score_set(s, extra, "sql_injection", "text")
    return out


def _plain(size: int, rng: random.Random, html: bool = False) -> str:
    """Prose of ``size`` characters; for ``html``, ordinary paragraphs of it (``<p>...</p>``)."""
    out: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(_WORDS)
        if html and rng.random() < 0.08:
            w = rng.choice(("</p><p>", "<b>", "</b>", "<br>", "<em>x</em>", '<a href="/x">y</a>'))
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def _best(s: Sanitizer, text: str, as_: str, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        clear_caches()  # every run pays for decoding and fingerprinting
        t0 = time.perf_counter()
        s.scan_text(text, as_)
        best = min(best, time.perf_counter() - t0)
    return best


def adversarial_cost(
    s: Sanitizer, sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
) -> dict[str, Any]:
    """Time of each adversarial input over plain prose of the same size and treatment.

    Returns ``{"sizes", "plain_ms", "cases": {name: {"family", "as", "ms": {size: ms},
    "ratio": {size: r}}}, "worst_ratio": {size: r}, "worst_case": {size: name}}``; a
    ratio of 1.0 costs what plain text costs. The input and its plain-text reference are
    timed alternately (best of 3, of 2 at 1 MB) so that load on a shared machine hits both.
    """
    rng = random.Random(7)
    plain: dict[tuple[str, int], str] = {}
    for size in sizes:
        plain[("text", size)] = plain[("sql", size)] = _plain(size, rng)
        plain[("html", size)] = _plain(size, rng, html=True)
    base_best: dict[tuple[str, int], float] = {}
    cases: dict[str, Any] = {}
    worst: dict[str, float] = {str(z): 0.0 for z in sizes}
    worst_case: dict[str, str] = {}
    for name, (unit, family, as_) in ADVERSARIAL_UNITS.items():
        ms: dict[str, float] = {}
        ratio: dict[str, float] = {}
        for size in sizes:
            text = (unit * (size // len(unit) + 1))[:size]
            ref = plain[(as_, size)]
            t_case = t_base = float("inf")
            for _ in range(3 if size < 1_000_000 else 2):
                t_base = min(t_base, _best(s, ref, as_, 1))
                t_case = min(t_case, _best(s, text, as_, 1))
            key = (as_, size)
            base_best[key] = min(base_best.get(key, float("inf")), t_base)
            r = t_case / max(t_base, 1e-9)
            ms[str(size)] = round(t_case * 1e3, 3)
            ratio[str(size)] = round(r, 2)
            if r > worst[str(size)]:
                worst[str(size)] = round(r, 2)
                worst_case[str(size)] = name
        cases[name] = {"family": family, "as": as_, "ms": ms, "ratio": ratio}
    return {
        "sizes": list(sizes),
        "plain_ms": {f"{a}/{z}": round(t * 1e3, 3) for (a, z), t in base_best.items()},
        "cases": cases,
        "worst_ratio": worst,
        "worst_case": worst_case,
    }
