"""Per-stage cost of intake (µs per event, in process, no Kafka) for ``sluice bench``."""

from __future__ import annotations

import re
import time
from typing import Any

from sluice.audit.chain import ChainWriter
from sluice.codec import default_codec
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.tools.bench.policy import measure_assess

__all__ = ["measure_stages"]


def measure_stages(settings: Settings, n: int = 5000) -> dict[str, float]:
    """µs/event of decode, validate, sanitize, policy, the whole pure stage, and audit.

    Fresh events each time (no cache or DFA warm-up from repeats within one stage).
    ``policy_mix_us`` / ``policy_mix_held_share``: ``Policy.assess`` alone on the
    realistic mix of :func:`sluice.tools.bench.policy.measure_assess` (5 % with findings).
    ``velocity_*``: what the policy's velocity rules add (none without them):
    :func:`sluice.tools.bench.velocity.measure_velocity`.
    """
    from sluice.tools.bench.policy import realistic_events
    from sluice.tools.bench.velocity import assess_with_counts, measure_velocity
    from sluice.worker import build_intake

    intake, policy = build_intake(settings)
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    events = make_events(n, seed=42, now_ms=now)
    payloads = [codec.encode("WorkflowEvent", e) for e in events]
    # The very objects intake uses, timed one stage at a time.
    sanitizer = intake.sanitizer
    validator = intake.validator
    assess = assess_with_counts(policy)

    def timed(fn: Any, items: list[Any]) -> float:
        t = time.perf_counter()
        for x in items:
            fn(x)
        return (time.perf_counter() - t) / len(items) * 1e6

    out = {
        "decode_us": timed(lambda b: codec.decode("WorkflowEvent", b), payloads),
        "validate_us": timed(lambda e: validator.validate(e, now), events),
        "sanitize_us": timed(sanitizer.sanitize_event, events),
        "policy_us": timed(lambda e: assess(e, []), events),
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
    out.update(_producer_auth(intake, policy, events, payloads, now))
    mix = measure_assess(policy, n)
    out["policy_mix_us"] = mix["policy_us_per_event"]
    out["policy_mix_held_share"] = mix["held_ratio"]
    out.update(measure_velocity(policy, realistic_events(n, seed=11)))
    return {k: round(v, 3) for k, v in out.items()}


def _producer_auth(
    intake: Any, policy: Any, events: list[dict[str, Any]], payloads: list[bytes], now: int
) -> dict[str, float]:
    """The intake stage with producer authentication off, HMAC and Ed25519 (µs/event).

    ``producer_auth_<alg>_us``: verification alone (headers → key);
    ``intake_stage_auth_<alg>_us``: the whole pure stage with it;
    ``producer_auth_<alg>_ratio``: events/s with authentication over events/s without
    (``intake_stage_noauth_us``); same 1000 events, the three interleaved per event,
    each event's best of 3.
    """
    import os

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sluice.pipeline import Intake
    from sluice.producers import ProducerKey, ProducerRegistry, ProducerSigner
    from sluice.topics import Topics

    actors = frozenset(e["actor"]["id"] for e in events)
    secret = os.urandom(32).hex().encode()
    private = Ed25519PrivateKey.generate()
    signers = [
        ProducerSigner("bench-hmac", "hmac-sha256", secret=secret),
        ProducerSigner("bench-ed25519", "ed25519", private_key=private),
    ]
    any_workflow = (re.compile(".*", re.DOTALL),)
    registry = ProducerRegistry(
        [
            ProducerKey(
                "bench-hmac", "hmac-sha256", actors, frozenset(), any_workflow, secret=secret
            ),
            ProducerKey(
                "bench-ed25519",
                "ed25519",
                actors,
                frozenset(),
                any_workflow,
                public_key=private.public_key(),
            ),
        ]
    )
    topic = "bench"
    topics = Topics.with_prefix("")
    # The same parts as the stage measured without authentication.
    auth_intake = Intake(
        default_codec(),
        intake.validator,
        intake.sanitizer,
        policy,
        topics,
        producers=registry,
    )
    records = [(p, e["run_id"].encode()) for p, e in zip(payloads, events, strict=True)]
    records = records[:1000]
    variants: list[tuple[str, Any, list[Any]]] = [("none", intake, [None] * len(records))]
    for signer in signers:
        variants.append(
            (
                signer.algorithm.split("-")[0],
                auth_intake,
                [signer.headers(topic, k, p) for p, k in records],
            )
        )
    # Interleaved per record, order rotated, each record's best of 3 passes after an
    # uncounted warm-up pass: on a shared machine whole-pass timings drifted by ±20 %
    # (preemption spikes); the per-record minimum compares like with like.
    n_var = len(variants)
    mins = [[float("inf")] * len(records) for _ in range(n_var)]
    clock = time.perf_counter
    for counted in (False, True, True, True):
        for i, (p, k) in enumerate(records):
            for j in range(n_var):
                v = (i + j) % n_var
                _, stage, headers = variants[v]
                t = clock()
                r = stage.process(p, k, (topic, 0, i), now, now, headers[i])
                dt = clock() - t
                if r.error_code is not None and r.error_code.startswith("producer_"):
                    raise RuntimeError(f"bench: producer authentication refused ({r.error_code})")
                if counted and dt < mins[v][i]:
                    mins[v][i] = dt
    best = {name: sum(mins[v]) / len(records) * 1e6 for v, (name, _, _) in enumerate(variants)}
    verify: dict[str, float] = {}
    for name, _, headers in variants[1:]:
        total = 0.0
        for (p, k), h in zip(records, headers, strict=True):
            once = float("inf")
            for _ in range(3):
                t = clock()
                registry.authenticate(h, topic, k, p)
                once = min(once, clock() - t)
            total += once
        verify[name] = total / len(records) * 1e6
    out: dict[str, float] = {"intake_stage_noauth_us": best["none"]}
    for name in ("hmac", "ed25519"):
        out[f"producer_auth_{name}_us"] = verify[name]
        out[f"intake_stage_auth_{name}_us"] = best[name]
        out[f"producer_auth_{name}_ratio"] = best["none"] / best[name]
    return out
