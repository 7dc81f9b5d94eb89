"""Realistic WorkflowEvents for benchmarks, demos and tests (~1 KB, mixed kinds).

About ``held_share`` of them are steps the default policy holds (code publication,
confidential data); the rest are routine steps it allows.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

__all__ = ["make_event", "make_events"]

_WORDS = (
    "the agent summarised quarterly revenue for the board and drafted follow up tasks "
    "customer ticket escalation requires refund approval policy check passed retrieval "
    "augmented answer cites three internal documents latency budget within limits model "
    "returned structured output validated against schema next step schedules report"
).split()

_ROUTINE = [
    ("PROMPT", "llm.complete", "INTERNAL"),
    ("MODEL_OUTPUT", "llm.respond", "INTERNAL"),
    ("TOOL_CALL", "search.documents", "INTERNAL"),
    ("DATA_ACCESS", "warehouse.query", "PUBLIC"),
    ("TOOL_CALL", "calendar.lookup", "INTERNAL"),
    ("TOOL_CALL", "ticket.update", "PUBLIC"),
]
_HELD = [
    ("CODE_PUBLISH", "git.push", "INTERNAL"),
    ("DATA_ACCESS", "crm.export", "CONFIDENTIAL"),
]


def _text(rng: random.Random, chars: int) -> str:
    return " ".join(rng.choices(_WORDS, k=chars // 5 + 1))[:chars]


def make_event(
    rng: random.Random, *, held: bool = False, now_ms: int | None = None, content_chars: int = 640
) -> dict[str, Any]:
    """One event as an Avro-ready dict (all optional fields present)."""
    kind, action, cls = rng.choice(_HELD if held else _ROUTINE)
    run = rng.randrange(10_000)
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "workflow_id": f"wf-{run % 50:03d}",
        "run_id": f"run-{run:05d}",
        "step": f"step-{rng.randrange(20)}",
        "kind": kind,
        "actor": {"id": f"agent-{rng.randrange(30)}", "type": "AGENT", "roles": ["assistant"]},
        "action": action,
        "data_classification": cls,
        "occurred_at": now_ms if now_ms is not None else time.time_ns() // 1_000_000,
        "on_behalf_of": f"user-{rng.randrange(500)}",
        "resource": f"res://{action}/{rng.randrange(1000)}",
        "content": _text(rng, content_chars),
        "arguments": {"query": _text(rng, 60), "limit": str(rng.randrange(1, 100))},
        "model": {"name": "gpt-x", "version": "2026-10", "provider": "example"}
        if kind in ("PROMPT", "MODEL_OUTPUT")
        else None,
        "confidence": round(0.75 + rng.random() * 0.25, 3),
        "cost_usd": round(rng.random() * 0.05, 4),
        "trace_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "attributes": {"team": "ops", "env": "prod", "region": "eu-west-1"},
    }


def make_events(
    n: int, *, held_share: float = 0.05, seed: int = 0, now_ms: int | None = None
) -> list[dict[str, Any]]:
    """``n`` events, about ``held_share`` of them for review under the default policy."""
    rng = random.Random(seed)
    return [make_event(rng, held=rng.random() < held_share, now_ms=now_ms) for _ in range(n)]
