"""Which partitions ``trace`` reads: the ones the producers' partitioner chose."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner

from sluice.audit.trace import KEYED_ROLES, key_partition, trace_partitions


def test_key_partition_is_the_default_partitioners_choice() -> None:
    chooser = DefaultPartitioner()
    for n in (1, 2, 3, 6, 12, 50):
        parts = list(range(n))
        for i in range(200):
            key = str(uuid.UUID(int=i * 7919 + n)).encode()
            assert key_partition(key, n) == chooser(key, parts, parts)


def test_known_java_murmur2_values() -> None:
    # Kafka's UtilsTest vectors for Utils.murmur2 (signed 32-bit); the Java client
    # partitions by toPositive(murmur2(key)) % n.
    for key, java in ((b"21", -973932308), (b"foobar", -790332482)):
        for n in (3, 7, 12):
            assert key_partition(key, n) == (java & 0x7FFFFFFF) % n


COUNTS = {
    "audit": 3,
    "approvals": 6,
    "decisions": 6,
    "approved": 6,
    "rejected": 6,
    "dlq": 2,
    "events": 6,
}


def test_keyed_topics_read_one_partition_audit_and_dlq_need_the_run_id() -> None:
    ev = "00000000-0000-4000-8000-000000000001"
    parts = trace_partitions(COUNTS, ev, None)
    for role in KEYED_ROLES:
        assert parts[role] == {key_partition(ev.encode(), 6)}
    assert parts["audit"] is None and parts["dlq"] is None
    with_run = trace_partitions(COUNTS, ev, "run-42")
    assert with_run["audit"] == {
        key_partition(b"run-42", 6) % 3,  # the intake chain: events partition % audit
        key_partition(ev.encode(), 6) % 3,  # the gate chain: approvals partition % audit
        key_partition(ev.encode(), 3),  # the default partitioner's choice
    }
    assert with_run["dlq"] == {key_partition(b"run-42", 2)}


def test_unknown_counts_read_whole_topics() -> None:
    parts = trace_partitions({}, "e", "r")
    assert all(v is None for v in parts.values())
