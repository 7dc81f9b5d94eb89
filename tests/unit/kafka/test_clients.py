"""sluice.kafka.clients without a broker: the metadata helpers reach both kinds of client."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from sluice.kafka import known_partitions, make_consumer, make_producer
from sluice.settings import load_settings

SETTINGS = load_settings(fingerprint_key="k" * 8, bootstrap_servers="127.0.0.1:1")


async def test_known_partitions_reads_producers_and_consumers_metadata() -> None:
    """Neither client is started: no metadata yet, for either kind of client."""
    producer = make_producer(SETTINGS)
    consumer = make_consumer(SETTINGS, group_id=None)
    assert isinstance(producer, AIOKafkaProducer)
    assert known_partitions(producer, "t") is None
    assert known_partitions(consumer, "t") is None
