"""``sluice bench detect``: detection quality and sanitize-stage speed in one report.

``run_detect_bench()`` scores the generated labelled set (:mod:`.samples`), measures the
whole ``sanitize_event`` on ~1 KB events and the time per byte of adversarial inputs of
10 KB, 100 KB and 1 MB (:mod:`.speed`), and adds the public-data evaluations
(:mod:`.heldout`, :mod:`.public`, :mod:`.pi`). ``sluice bench detect --json`` prints the
returned dict.
"""

from __future__ import annotations

import random
from typing import Any

from sluice.sanitize import Sanitizer
from sluice.tools.bench.detect.heldout import heldout_quality
from sluice.tools.bench.detect.public import adversarial_cost as sql_markup_adversarial_cost
from sluice.tools.bench.detect.public import public_eval
from sluice.tools.bench.detect.samples import FAMILIES, quality
from sluice.tools.bench.detect.speed import adversarial_cost, linear_time, throughput
from sluice.tools.bench.detect.unicode_eval import unicode_quality

__all__ = ["run_detect_bench"]


def run_detect_bench(n_events: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Run the detection benchmark.

    ``n_events`` positives are generated per family (and twice that many negatives).
    Returns ``{"families": {family: {precision, recall, tp, fp, fn}}, "throughput":
    {"clean": ..., "five_percent_secrets": ...}, "linear_time": {...}, "n_events", "seed"}``.
    """
    rng = random.Random(seed)
    s = Sanitizer(b"bench-fingerprint-key")
    per_family = max(1, n_events // len(FAMILIES))
    families = quality(s, per_family, rng)
    return {
        "n_events": n_events,
        "seed": seed,
        "families": families,
        "throughput": {
            "clean": throughput(s, rng, 0.0),
            "five_percent_secrets": throughput(s, rng, 0.05),
        },
        "linear_time": linear_time(s),
        # SQL injection and markup on public labelled sets, and their adversarial cost
        # (sluice.tools.bench.detect.public).
        "public_sql_markup": public_eval(s),
        "sql_markup_cost": sql_markup_adversarial_cost(s),
        "heldout": heldout_quality(s),
        # Unicode tricks on public data (sluice.tools.bench.detect.unicode_eval).
        "unicode_eval": unicode_quality(s),
        "cost_vs_plain": adversarial_cost(s),
        # Prompt injection: held-out public split, regression samples, classifier cost
        # (sluice.tools.bench.detect.pi).
        "prompt_injection_eval": _prompt_injection_eval(s),
    }


def _prompt_injection_eval(s: Sanitizer) -> dict[str, Any]:
    """Held-out and regression figures and classifier cost (see :mod:`.pi`)."""
    from sluice.tools.bench.detect.pi import prompt_injection_report

    return prompt_injection_report(s)


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(run_detect_bench(n), indent=2))
