"""Poison pills: every malformed kind lands in the DLQ with its own code while good
records in the same partition keep flowing (none lost, none stalled behind a pill)."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest

from sluice.codec import default_codec
from sluice.tools.bench.events import make_events
from sluice.tools.chaos.accounting import settle
from sluice.tools.chaos.load import encode_events, pace
from sluice.tools.chaos.procs import WorkerHandle
from sluice.tools.chaos.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def _patch(base: dict[str, Any], marker: str, raw: bytes) -> bytes:
    """Encode ``base`` with ``step=marker``, then overwrite the marker's bytes with ``raw``
    (same length, so the Avro length prefix stays right): strings Avro cannot carry."""
    assert len(raw) == len(marker)
    value = default_codec().encode(
        "WorkflowEvent", {**base, "event_id": str(uuid.uuid4()), "step": marker}
    )
    i = value.index(marker.encode())
    return value[:i] + raw + value[i + len(raw) :]


def _pills(now: int) -> list[tuple[str, bytes | None, str]]:
    """(name, value, expected DLQ code)."""
    codec = default_codec()
    base = make_events(1, seed=5, now_ms=now)[0]

    def enc(**kw: Any) -> bytes:
        return codec.encode("WorkflowEvent", {**base, "event_id": str(uuid.uuid4()), **kw})

    valid = enc()
    return [
        ("random_bytes", b"\x00" + os.urandom(300), "bad_magic"),
        ("wrong_magic", b"\xc3\x02" + valid[2:], "bad_magic"),
        (
            "unknown_fingerprint",
            b"\xc3\x01" + bytes(range(1, 9)) + valid[10:],
            "unknown_fingerprint",
        ),
        ("truncated", valid[: len(valid) - 40], "truncated"),
        ("header_only", valid[:10], "truncated"),
        ("tombstone", None, "truncated"),
        ("semantic_bad_uuid", enc(event_id="not-a-uuid"), "invalid_uuid"),
        (
            "semantic_old_timestamp",
            enc(occurred_at=now - 40 * 86400_000),
            "timestamp_out_of_window",
        ),
        (
            "semantic_empty_actor",
            enc(actor={"id": "", "type": "AGENT", "roles": []}),
            "empty_field",
        ),
        ("ten_megabytes", enc(content="x" * (10 * 1024 * 1024)), "record_too_large"),
        (
            "map_thousands_of_keys",
            enc(attributes={f"k{i}": "v" for i in range(5000)}),
            "too_many_entries",
        ),
        ("map_huge_key", enc(arguments={"k" * 200_000: "v"}), "field_too_long"),
        ("invalid_utf8", _patch(base, "ZZZZZZ", b"\xff\xfe\xfd\xc0\xaf\x80"), "invalid_utf8"),
        ("nul_bytes", enc(content="before\x00after"), "invalid_text"),
        ("lone_surrogate_cesu", _patch(base, "ZZZZZZ", b"ab\xed\xa0\x80c"), "invalid_utf8"),
        ("trailing_bytes", valid + b"\x00\x00", "trailing_bytes"),
    ]


async def test_poison_pills_to_dlq_partition_keeps_flowing(scenario: Scenario) -> None:
    now = time.time_ns() // 1_000_000
    pills = _pills(now)
    good = make_events(400, held_share=0.05, seed=21, now_ms=now)
    good_items = encode_events(good)
    items: list[tuple[bytes | None, bytes | None]] = []
    names: list[str] = []
    # Every pill is followed by good records in the same partition (all go to partition 0).
    for i, (key, value) in enumerate(good_items):
        items.append((key, value))
        if i % 20 == 10 and pills:
            name, pill, _ = pills.pop(0)
            items.append((f"pill-{name}".encode(), pill))
            names.append(name)
    assert not pills
    expected = {name: code for name, _, code in _pills(now)}
    worker = WorkerHandle(scenario.env, scenario.workdir / "worker.log", worker_id="poison-w0")
    worker.start()
    try:
        await pace(scenario.settings, scenario.topics.events, items, rate=2000.0, partition=0)
        acc, snap = await settle(scenario, [e["event_id"] for e in good], within_s=60)
        invalid = worker.metric("sluice_events_total", outcome="invalid")
    finally:
        assert worker.stop() == 0
    assert acc.accounted == len(good), acc.as_dict()
    assert not (acc.lost or acc.released_twice or acc.held_twice or acc.dlq_and_elsewhere), (
        acc.as_dict()
    )
    # Ids outside the published good set can only be pills whose id was salvaged.
    assert set(acc.unknown) <= {eid for eid, _ in snap.dlq}
    assert acc.dlq == 0, "no good record may land in the DLQ"
    # One DLQ record per pill, with the specific code of its kind, in publish order.
    from sluice.kafka import read_topic

    codec = default_codec()
    dead = []
    async for rec in read_topic(scenario.settings, scenario.topics.dlq):
        d = codec.decode("DeadLetter", rec.value)
        dead.append((rec.key.decode() if rec.key else "", d))
    dead.sort(key=lambda kd: kd[1]["source_offset"])  # DLQ partitions interleave on read
    got = {key.removeprefix("pill-"): d["error_code"] for key, d in dead}
    assert got == expected
    assert [k.removeprefix("pill-") for k, _ in dead] == names
    for _, d in dead:
        assert d["source_topic"] == scenario.topics.events and d["source_partition"] == 0
        assert d["payload_sha256"] and len(d["detail"]) <= 500
        # The DLQ never carries the payload itself: a 10 MB pill leaves a small record.
        assert d["preview"] is None or len(d["preview"]) <= 120
    assert invalid == len(expected)
    # Each pill sat between good records of the same partition, all of which went on.
    offsets = [d["source_offset"] for _, d in dead]
    assert len(set(offsets)) == len(offsets) and offsets[-1] < len(items) - 1
