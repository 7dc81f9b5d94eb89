"""Per-stage cost of intake (µs per event, in process, no Kafka) for ``sluice bench``."""

from __future__ import annotations

import time
from typing import Any

from sluice.audit.chain import ChainWriter
from sluice.bench.events import make_events
from sluice.codec import default_codec
from sluice.settings import Settings

__all__ = ["measure_stages"]


def measure_stages(settings: Settings, n: int = 5000) -> dict[str, float]:
    """µs/event of decode, validate, sanitize, policy, the whole pure stage, and audit.

    Fresh events each time (no cache or DFA warm-up from repeats within one stage).
    """
    from sluice.worker import build_intake

    intake, policy = build_intake(settings)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    events = make_events(n, seed=42, now_ms=now)
    payloads = [codec.encode("WorkflowEvent", e) for e in events]
    sanitizer = intake._sanitizer  # noqa: SLF001 - measuring the very objects intake uses
    validator = intake._validator  # noqa: SLF001

    def timed(fn: Any, items: list[Any]) -> float:
        t = time.perf_counter()
        for x in items:
            fn(x)
        return (time.perf_counter() - t) / len(items) * 1e6

    out = {
        "decode_us": timed(lambda b: codec.decode("WorkflowEvent", b), payloads),
        "validate_us": timed(lambda e: validator.validate(e, now), events),
        "sanitize_us": timed(sanitizer.sanitize_event, events),
        "policy_us": timed(lambda e: policy.assess(e, []), events),
    }
    chain = ChainWriter("intake:0", None)
    results = []
    t = time.perf_counter()
    for i, b in enumerate(payloads):
        results.append(intake.process(b, None, ("bench", 0, i), now, now))
    out["intake_stage_us"] = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for r in results:
        for rec in chain.append_fields(r.audit):
            codec.encode("AuditRecord", rec)
    out["audit_us"] = (time.perf_counter() - t) / n * 1e6
    out["policy_share"] = out["policy_us"] / out["intake_stage_us"]
    out["audit_share"] = out["audit_us"] / out["intake_stage_us"]
    return {k: round(v, 3) for k, v in out.items()}
