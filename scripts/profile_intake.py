"""Per-stage µs/event of the pure intake stage over the mixed corpus (no Kafka).

    PYTHONPATH=streams python scripts/profile_intake.py [--n 4000] [--rounds 5]
        [--baseline] [--cprofile]

Stages are timed one at a time over the same events (decode, validate, sanitize,
assess on the sanitized events, the rest of ``Intake.process``: hashing, routing and
encoding; audit = chain append + AuditRecord encode), after one untimed sanitize pass;
figures are the median (and min) over rounds. ``--baseline`` adds the policy engine as
it was before issue 16 (no compiled conditions), in the same process, alternating the
order round by round; ``--cprofile`` prints a profile of ``Intake.process``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any

from sluice.audit.chain import ChainWriter
from sluice.codec import default_codec
from sluice.settings import load_settings
from sluice.tools.bench.corpus import NOW_MS, mixed_corpus
from sluice.worker import build_intake


def _timed(fn: Any, items: list[Any]) -> float:
    t = time.perf_counter()
    for x in items:
        fn(x)
    return (time.perf_counter() - t) / len(items) * 1e6


def _baseline(policy: Any) -> Any:
    """The same policy on the engine as it was: no compiled conditions, no kind index
    for rules the static analysis is unsure of."""
    from sluice.policy import load_policy
    from sluice.policy.engine import Policy

    src = policy.source
    fresh = load_policy(None if src.startswith("<package>") else src)
    for rule in fresh.rules:
        rule.fast = None
        rule.memo = None
        if not rule.info.sure:
            rule.constraints, rule.preds = (), ()
    return Policy(
        fresh.rules,
        fresh.default,
        fresh.hash,
        lists=fresh.lists,
        limits=fresh.limits,
        source=fresh.source,
    )


def _with_policy(intake: Any, policy: Any) -> Any:
    from sluice.pipeline import Intake

    parts = (intake._codec, intake.validator, intake.sanitizer, policy, intake._topics)  # noqa: SLF001
    return Intake(*parts)


def _round(
    intake: Any, policy: Any, codec: Any, events: list[Any], payloads: list[bytes], cleaned: Any
) -> dict[str, float]:
    sanitizer, validator = intake.sanitizer, intake.validator
    r = {
        "decode": _timed(lambda b: codec.decode("WorkflowEvent", b), payloads),
        "validate": _timed(lambda e: validator.validate(e, NOW_MS), events),
        "sanitize": _timed(sanitizer.sanitize_event, events),
        "assess": _timed(lambda cf: policy.assess(cf[0], cf[1]), cleaned),
    }
    results = []
    t = time.perf_counter()
    for i, b in enumerate(payloads):
        results.append(intake.process(b, None, ("bench", 0, i), NOW_MS, NOW_MS))
    r["intake total"] = (time.perf_counter() - t) / len(payloads) * 1e6
    chain = ChainWriter("intake:0", None)
    t = time.perf_counter()
    for res in results:
        for rec in chain.append_fields(res.audit):
            codec.encode("AuditRecord", rec)
    r["audit"] = (time.perf_counter() - t) / len(payloads) * 1e6
    r["route/encode/hash (rest)"] = r["intake total"] - sum(
        r[k] for k in ("decode", "validate", "sanitize", "assess")
    )
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument(
        "--baseline", action="store_true", help="also the policy engine as before issue 16"
    )
    args = ap.parse_args()
    settings = load_settings(fingerprint_key="profile-key", data_dir="/nonexistent")
    intake, policy = build_intake(settings)
    variants = [("new", intake, policy)]
    if args.baseline:
        old = _baseline(policy)
        variants.append(("old", _with_policy(intake, old), old))
    codec = default_codec()
    events = mixed_corpus(args.n)
    payloads = [codec.encode("WorkflowEvent", e) for e in events]
    cleaned = [intake.sanitizer.sanitize_event(e) for e in events]  # also warms the DFAs
    rows: dict[tuple[str, str], list[float]] = {}
    for rnd in range(args.rounds):
        for name, stage, pol in variants[:: 1 if rnd % 2 == 0 else -1]:  # alternate order
            for k, v in _round(stage, pol, codec, events, payloads, cleaned).items():
                rows.setdefault((k, name), []).append(v)
    names = [n for n, _, _ in variants]
    print(f"| stage | {' | '.join(names)} (µs/event, median of {args.rounds}) |")
    print("|---|" + "---|" * len(names))
    for k in dict.fromkeys(k for k, _ in rows):
        cells = " | ".join(
            f"{statistics.median(rows[(k, n)]):.1f} (min {min(rows[(k, n)]):.1f})" for n in names
        )
        print(f"| {k} | {cells} |")
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        for i, b in enumerate(payloads):
            intake.process(b, None, ("bench", 0, i), NOW_MS, NOW_MS)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
