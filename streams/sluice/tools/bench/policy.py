"""Policy evaluation cost per event (``policy_mix_us`` in ``sluice bench``'s ``stages``).

Measures ``Policy.assess`` on a realistic mix (mostly routine PROMPT / MODEL_OUTPUT /
TOOL_CALL / DATA_ACCESS on PUBLIC/INTERNAL data, ~5% with findings, unique confidence
and cost values so that memo hits are not flattering).
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from sluice.models import Finding
from sluice.policy.engine import Policy

__all__ = ["measure_assess", "realistic_events"]

_KINDS = (
    ["PROMPT"] * 30
    + ["MODEL_OUTPUT"] * 30
    + ["TOOL_CALL"] * 20
    + ["DATA_ACCESS"] * 10
    + ["EXTERNAL_API", "MESSAGE_SEND", "RECORD_UPDATE", "CODE_PUBLISH", "MODEL_DEPLOY", "OTHER"]
)
_CLASSES = ["PUBLIC", "INTERNAL"] * 20 + ["CONFIDENTIAL", "RESTRICTED"]


def realistic_events(n: int, seed: int = 7) -> list[tuple[dict[str, Any], list[Finding]]]:
    """``n`` (event dict, findings) pairs of ~1 KB events; deterministic for a seed."""
    rnd = random.Random(seed)
    pii = [Finding(kind="pii", detector="email", field="content", start=0, end=5)]
    out = []
    for _ in range(n):
        kind = rnd.choice(_KINDS)
        event = {
            "event_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "workflow_id": "wf-bench",
            "run_id": f"run-{rnd.randrange(1000)}",
            "step": "step",
            "kind": kind,
            "actor": {"id": "agent-7", "type": "AGENT", "roles": ["assistant"]},
            "action": "call",
            "data_classification": rnd.choice(_CLASSES),
            "occurred_at": 1_700_000_000_000 + rnd.randrange(10**6),
            "on_behalf_of": None,
            "resource": rnd.choice([None, "api.example.com", "ops@example.com", "x.test"]),
            "content": "lorem ipsum " * 75,
            "arguments": {"q": "select 1"} if kind == "TOOL_CALL" else None,
            "model": {"name": "m", "version": None, "provider": None},
            "confidence": 0.62 + rnd.random() * 0.38 if kind == "MODEL_OUTPUT" else None,
            "cost_usd": rnd.random() * 0.05 if kind in ("PROMPT", "MODEL_OUTPUT") else None,
            "trace_id": None,
            "attributes": (
                {"vendor": rnd.choice(["acme", "other"]), "amount": str(rnd.randrange(10_000))}
                if kind == "RECORD_UPDATE"
                else {}
            ),
        }
        out.append((event, pii if rnd.random() < 0.05 else []))
    return out


def measure_assess(policy: Policy, n: int = 20_000) -> dict[str, float]:
    """Mean µs per ``assess`` over ``n`` fresh events (first pass), and the share held."""
    from sluice.tools.bench.velocity import assess_with_counts

    pairs = realistic_events(n)
    assess = assess_with_counts(policy)  # velocity rules: counted first, as intake does
    start = time.perf_counter()
    held = 0
    for event, findings in pairs:
        held += assess(event, findings).outcome == "hold"
    elapsed = time.perf_counter() - start
    return {"policy_us_per_event": elapsed / n * 1e6, "held_ratio": held / n, "events": n}
