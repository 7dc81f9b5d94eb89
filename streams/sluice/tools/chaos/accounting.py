"""Where every published event ended, read back from the output topics.

:func:`account` is pure: it takes the event ids that were published and the records
found in approved, rejected, dlq and approvals, and names every violation of SPEC §1:
an event in no bucket (lost), released twice, held twice, or in the DLQ and elsewhere.
:func:`snapshot`, :func:`settle` and :func:`group_lag` read the topics it needs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sluice.codec import default_codec
from sluice.kafka import refresh_metadata
from sluice.settings import Settings
from sluice.tools.chaos.scenario import Scenario
from sluice.topics import Topics

__all__ = ["Accounting", "Snapshot", "account", "group_lag", "settle", "snapshot"]


@dataclass
class Snapshot:
    """What the output topics hold, reduced to what accounting needs."""

    #: (event_id, source) per record of approved / rejected, in topic order.
    approved: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: event_id per HeldEvent record on approvals.
    held: list[str] = field(default_factory=list)
    #: event_id (None when not salvageable) and error code per DLQ record.
    dlq: list[tuple[str | None, str]] = field(default_factory=list)
    #: decided_at of each approved/rejected record by event_id (latency figures).
    decided_at: dict[str, int] = field(default_factory=dict)


async def snapshot(settings: Settings, topics: Topics) -> Snapshot:
    """Read approved, rejected, approvals and dlq from the beginning (read_committed)."""
    from sluice.kafka import read_topic

    codec = default_codec()
    snap = Snapshot()
    for topic, bucket in ((topics.approved, snap.approved), (topics.rejected, snap.rejected)):
        async for rec in read_topic(settings, topic):
            o = codec.decode("Outcome", rec.value)
            bucket.append((o["event_id"], o["source"]))
            snap.decided_at[o["event_id"]] = o["decided_at"]
    async for rec in read_topic(settings, topics.approvals):
        snap.held.append(codec.decode("HeldEvent", rec.value)["event_id"])
    async for rec in read_topic(settings, topics.dlq):
        d = codec.decode("DeadLetter", rec.value)
        snap.dlq.append((d.get("event_id"), d["error_code"]))
    return snap


@dataclass
class Accounting:
    """Where every published event ended, and every violation of the invariant."""

    sent: int
    approved: int
    rejected: int
    dlq: int
    still_held: int
    released_from_hold: int
    #: published ids found in no bucket
    lost: list[str]
    #: ids with more than one record in approved or rejected
    released_twice: list[str]
    #: ids held more than once on the approvals topic
    held_twice: list[str]
    #: ids both in the DLQ and in another bucket
    dlq_and_elsewhere: list[str]
    #: ids in an output that were never published
    unknown: list[str]

    @property
    def ok(self) -> bool:
        """True when the conservation invariant holds."""
        return not (
            self.lost
            or self.released_twice
            or self.held_twice
            or self.dlq_and_elsewhere
            or self.unknown
        )

    @property
    def accounted(self) -> int:
        """Published events found in exactly one final bucket."""
        return self.sent - len(self.lost)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, lists shortened to counts plus the first few ids."""
        out = asdict(self)
        for k in ("lost", "released_twice", "held_twice", "dlq_and_elsewhere", "unknown"):
            out[k] = {"count": len(out[k]), "first": out[k][:5]}
        out["ok"] = self.ok
        out["accounted"] = self.accounted
        return out


def account(sent_ids: Iterable[str], snap: Snapshot) -> Accounting:
    """Check SPEC §1 for the published ``sent_ids`` against ``snap`` (pure)."""
    sent = set(sent_ids)
    released = Counter(eid for eid, _ in snap.approved) + Counter(eid for eid, _ in snap.rejected)
    held = Counter(snap.held)
    dlq_ids = {eid for eid, _ in snap.dlq if eid is not None}
    approved_ids = {eid for eid, _ in snap.approved}
    rejected_ids = {eid for eid, _ in snap.rejected}
    still_held = set(held) - set(released)
    buckets = set(released) | set(held) | dlq_ids
    return Accounting(
        sent=len(sent),
        approved=len(approved_ids & sent),
        rejected=len(rejected_ids & sent),
        dlq=len(dlq_ids & sent),
        still_held=len(still_held & sent),
        released_from_hold=len((set(held) & set(released)) & sent),
        lost=sorted(sent - buckets),
        released_twice=sorted(eid for eid, n in released.items() if n > 1),
        held_twice=sorted(eid for eid, n in held.items() if n > 1),
        dlq_and_elsewhere=sorted(dlq_ids & (set(released) | set(held))),
        unknown=sorted(buckets - sent),
    )


async def settle(
    scn: Scenario,
    sent_ids: Iterable[str],
    *,
    must_release: Iterable[str] = (),
    within_s: float = 60.0,
    quiet: float = 2.0,
) -> tuple[Accounting, Snapshot]:
    """Poll until every published id is accounted and ``must_release`` ids are released,
    then wait ``quiet`` seconds more (late duplicates would show) and account again.

    Returns the final accounting (which may still show violations: the caller asserts).
    """
    sent = list(sent_ids)
    want = set(must_release)
    deadline = time.monotonic() + within_s
    while True:
        snap = await snapshot(scn.settings, scn.topics)
        acc = account(sent, snap)
        released = {eid for eid, _ in snap.approved} | {eid for eid, _ in snap.rejected}
        if (not acc.lost and want <= released) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(quiet)
    snap = await snapshot(scn.settings, scn.topics)
    return account(sent, snap), snap


async def group_lag(settings: Settings, group_id: str, topics: Iterable[str]) -> int:
    """Records of ``topics`` not yet committed by ``group_id`` (end offset - committed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    consumer = AIOKafkaConsumer(
        **settings.kafka_kwargs(), group_id=None, isolation_level="read_committed"
    )
    await admin.start()
    await consumer.start()
    try:
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if parts is None:
                await refresh_metadata(consumer)  # fresh topic
                parts = consumer.partitions_for_topic(t) or set()
            tps += [TopicPartition(t, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        lag = 0
        for tp in tps:
            om = committed.get(tp)
            done = om.offset if om is not None and om.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        await consumer.stop()
        await admin.close()
