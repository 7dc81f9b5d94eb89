"""The prompt-injection classifier's cost, kernel against the feature list (issue 16).

    PYTHONPATH=streams python scripts/profile_pi_classifier.py [--n 2000] [--rounds 7]

Two measures, each in one process with the two implementations alternating round by
round (``new``: ``Model.raw`` with the scoring kernel; ``old``: ``raw`` from the
feature list, as before):

- the pure intake stage over the mixed corpus (``sluice.tools.bench.corpus``): sanitize
  and ``Intake.process`` µs/event, as ``scripts/profile_intake.py`` times them;
- the classifier alone on the ``sluice bench`` event stream (``make_events``): every
  text that the stage hands the classifier (recorded once), scored with
  ``Model.score``; µs per event and per classified field.

Figures: median (min) over rounds of process CPU time (on a shared, loaded machine wall
time mostly measures the other processes); the load average is printed alongside.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from sluice.codec import default_codec
from sluice.sanitize import engine, prompt_injection
from sluice.sanitize.pi_classifier import MIN_DISTINCT, Model, load_model, normalize
from sluice.settings import load_settings
from sluice.tools.bench.corpus import NOW_MS, mixed_corpus
from sluice.tools.bench.events import make_events
from sluice.worker import build_intake


def _old_raw(self: Model, text: str) -> tuple[float, float, int, int]:
    """``Model.raw`` as it was: every feature listed with its position, then bincount."""
    norm = normalize(text)
    if len(set(norm[:256])) < MIN_DISTINCT and len(set(norm)) < MIN_DISTINCT:
        return -50.0, -math.inf, 0, len(text)
    return self._raw_features(text, norm)


@contextmanager
def _variant(name: str) -> Iterator[None]:
    prompt_injection._verdict.cache_clear()  # noqa: SLF001
    if name == "old":
        with mock.patch.object(Model, "raw", _old_raw):
            yield
    else:
        yield
    prompt_injection._verdict.cache_clear()  # noqa: SLF001


def _classified(sanitizer: Any, events: list[dict[str, Any]]) -> list[list[str]]:
    """Per event, the distinct texts the stage asks the classifier about (past its gates)."""
    seen: list[list[str]] = []
    real = prompt_injection.classify

    def record(view: str) -> Any:
        before = prompt_injection._verdict.cache_info().misses  # noqa: SLF001
        out = real(view)
        if prompt_injection._verdict.cache_info().misses > before:  # noqa: SLF001
            seen[-1].append(view)
        return out

    with mock.patch.object(engine, "classify", record):
        for e in events:
            seen.append([])
            sanitizer.sanitize_event(e)
    return seen


def _alternate(
    rounds: int, body: Callable[[], dict[str, float]]
) -> dict[tuple[str, str], list[float]]:
    rows: dict[tuple[str, str], list[float]] = {}
    for rnd in range(rounds):
        for name in ("new", "old") if rnd % 2 == 0 else ("old", "new"):
            with _variant(name):
                for k, v in body().items():
                    rows.setdefault((k, name), []).append(v)
    return rows


def _print(title: str, rows: dict[tuple[str, str], list[float]], rounds: int) -> None:
    print(f"\n{title}\n\n| µs | new | old (median (min) of {rounds}) | old / new |")
    print("|---|---|---|---|")
    for k in dict.fromkeys(k for k, _ in rows):
        new, old = rows[(k, "new")], rows[(k, "old")]
        ratio = statistics.median(old) / statistics.median(new)
        print(
            f"| {k} | {statistics.median(new):.1f} ({min(new):.1f}) | "
            f"{statistics.median(old):.1f} ({min(old):.1f}) | {ratio:.2f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    settings = load_settings(fingerprint_key="profile-key", data_dir="/nonexistent")
    intake, _ = build_intake(settings)
    sanitizer = intake.sanitizer
    model = load_model()
    codec = default_codec()
    corpus = mixed_corpus(args.n)
    payloads = [codec.encode("WorkflowEvent", e) for e in corpus]
    for e in corpus:  # warm the DFAs and the model
        sanitizer.sanitize_event(e)

    def stage() -> dict[str, float]:
        t = time.process_time()
        for e in corpus:
            sanitizer.sanitize_event(e)
        san = (time.process_time() - t) / len(corpus) * 1e6
        t = time.process_time()
        for i, b in enumerate(payloads):
            intake.process(b, None, ("bench", 0, i), NOW_MS, NOW_MS)
        total = (time.process_time() - t) / len(payloads) * 1e6
        return {"sanitize, µs/event": san, "intake total, µs/event": total}

    _print("Mixed corpus, pure intake stage", _alternate(args.rounds, stage), args.rounds)

    bench = make_events(args.n, seed=16, now_ms=NOW_MS)
    texts = _classified(sanitizer, bench)
    flat = [t for ts in texts for t in ts]
    chars = sum(map(len, flat)) / max(1, len(flat))

    def classifier() -> dict[str, float]:
        t = time.process_time()
        for text in flat:
            model.score(text)
        dt = time.process_time() - t
        return {
            "classifier, µs/event": dt / len(bench) * 1e6,
            "classifier, µs/field": dt / max(1, len(flat)) * 1e6,
        }

    _print(
        f"sluice bench events: {len(flat) / len(bench):.2f} classified fields/event, "
        f"{chars:.0f} characters on average",
        _alternate(args.rounds, classifier),
        args.rounds,
    )
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
