"""Factories for audit unit tests: chains of records, service keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sluice.audit.chain import ChainWriter
from sluice.audit.keys import CheckpointSigner

Located = tuple[int, int, dict[str, Any]]


def fields(i: int) -> dict[str, Any]:
    """Plausible intake-transition fields for record number ``i``."""
    return {
        "stage": "intake",
        "transition": ("received", "assessed", "held")[i % 3],
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        "run_id": f"run-{i // 10}",
        "workflow_id": "wf-1",
        "kind": "TOOL_CALL",
        "outcome": "held" if i % 3 == 2 else None,
        "actor_id": "agent-7",
        "rule": "default",
        "policy_hash": "a" * 64,
        "content_hash": f"{i:064x}",
        "detectors": ["email"] if i % 5 == 0 else [],
        "source": f"workflow.events/0/{i}",
        "at": 1_760_000_000_000 + i,
    }


@pytest.fixture(scope="session")
def signer() -> CheckpointSigner:
    return CheckpointSigner.generate()


@pytest.fixture
def make_chain(signer: CheckpointSigner) -> Callable[..., list[dict[str, Any]]]:
    """``make_chain(n, chain=..., every=..., signed=True)`` → the records, in order."""

    def make(
        n: int, *, chain: str = "intake:0", every: int = 5, signed: bool = True
    ) -> list[dict[str, Any]]:
        w = ChainWriter(chain, None, signer=signer if signed else None, checkpoint_every=every)
        out: list[dict[str, Any]] = []
        i = 0
        while len(out) < n:
            out.extend(w.append(**fields(i)))
            i += 1
        return out[:n]

    return make


def located(records: list[dict[str, Any]], partition: int = 0) -> list[Located]:
    """(partition, offset, record) triples as if the records filled one partition."""
    return [(partition, off, r) for off, r in enumerate(records)]
