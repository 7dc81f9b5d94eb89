"""Per-event decode cost: single-object vs Confluent framing (schema id cached), one run.

    PYTHONPATH=streams python scripts/bench_registry_decode.py [--events 10000] [--rounds 5]

The registry is a stub that answers once per id: after the first record every lookup
is the codec's LRU, which is the steady state of a worker (docs/performance.md).
Prints, per framing, the mean µs per event of the fastest round and the median round
(rounds interleave the cases, so machine load hits them alike; the minimum is the
least disturbed).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from sluice.codec import default_codec, schema_dir, schema_fingerprint
from sluice.codec.framed import RegistryCodec
from sluice.codec.registry import frame_confluent
from sluice.tools.bench.events import make_events
from sluice.topics import Topics


class _Stub:
    def __init__(self, schemas: dict[int, str], subject: str) -> None:
        self.schemas, self.subject, self.calls = schemas, subject, 0

    def schema(self, schema_id: int) -> str:
        self.calls += 1
        return self.schemas[schema_id]

    def subjects(self, schema_id: int) -> list[str]:
        return [self.subject]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    topics = Topics()
    base = default_codec()
    old = json.loads((schema_dir() / "history" / "WorkflowEvent.v1.avsc").read_text())
    stub = _Stub(
        {1: json.dumps(base.schema("WorkflowEvent")), 2: json.dumps(old)}, f"{topics.events}-value"
    )
    codec = RegistryCodec(stub, topics)  # type: ignore[arg-type]
    events = make_events(args.events, seed=1)
    single = [codec.encode("WorkflowEvent", e) for e in events]
    confluent = [frame_confluent(1, s[10:]) for s in single]
    parsed_old = fastavro.parse_schema(old)
    old_fp = schema_fingerprint(to_parsing_canonical_form(old))
    old_framed, old_single = [], []
    for e in events:
        buf = io.BytesIO()
        v1 = {k: v for k, v in e.items() if k not in ("trace_id", "cost_usd", "attributes")}
        fastavro.schemaless_writer(buf, parsed_old, v1)
        old_framed.append(frame_confluent(2, buf.getvalue()))
        old_single.append(b"\xc3\x01" + old_fp + buf.getvalue())
    cases: dict[str, tuple[Any, list[bytes]]] = {
        "single-object (plain Codec)": (base, single),
        "single-object (RegistryCodec)": (codec, single),
        "confluent, current schema, id cached": (codec, confluent),
        "single-object, v1 writer resolved": (base, old_single),
        "confluent, v1 writer resolved, id cached": (codec, old_framed),
    }
    results: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for label, (c, values) in cases.items():
            decode = c.decode
            t0 = time.perf_counter()
            for v in values:
                decode("WorkflowEvent", v)
            results[label].append((time.perf_counter() - t0) / len(values) * 1e6)
    print(f"{args.events} events x {args.rounds} rounds; registry lookups: {stub.calls}")
    for label, us in results.items():
        print(f"{label:42s} min {min(us):6.1f}  median {statistics.median(us):6.1f} µs/event")


if __name__ == "__main__":
    main()
