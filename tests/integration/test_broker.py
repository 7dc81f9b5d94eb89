"""The embedded Apache Kafka really is Kafka: topics, produce, consume over TCP."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer

from sluice.kafka import create_topics, make_producer, read_topic
from sluice.settings import load_settings
from sluice.topics import Topics

pytestmark = pytest.mark.integration


async def test_topics_created_idempotently_with_settings(kafka: str, prefix: str) -> None:
    settings = load_settings(bootstrap_servers=kafka, topic_prefix=prefix, partitions=3)
    first = await create_topics(settings)
    second = await create_topics(settings)
    assert {r.status for r in first} == {"created"}
    assert {r.status for r in second} == {"exists"}
    assert all(r.partitions == 3 for r in first)
    assert Topics.with_prefix(prefix).audit in {r.name for r in first}


async def test_produce_and_read_back(kafka: str, prefix: str) -> None:
    settings = load_settings(bootstrap_servers=kafka, topic_prefix=prefix)
    topic = Topics.with_prefix(prefix).events
    await create_topics(settings, names=[topic])
    producer = make_producer(settings)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i}".encode())
    finally:
        await producer.stop()
    values = sorted([r.value async for r in read_topic(settings, topic)])
    assert values == sorted(f"v{i}".encode() for i in range(10))
    assert AIOKafkaConsumer is not None
