"""sluice with a real schema registry (Apicurio, Confluent-compatible API) and real Kafka.

A record made by confluent-kafka's standard ``AvroSerializer`` goes in; sluice's output,
Confluent-framed, comes back through the standard ``AvroDeserializer``. Unknown ids and
wrong subjects land in the DLQ with their codes; a registry outage delays records and
never dead-letters them. The registry is started once per session (tests/apicurio.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from sluice.codec import default_codec, schema_dir
from sluice.codec.registry import RegistryClient, frame_confluent
from sluice.kafka import read_topic
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.tools.dev.broker import free_port
from tests.apicurio import ApicurioRegistry
from tests.helpers import WorkerProcess, collect, settings_from_env, topics_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def apicurio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApicurioRegistry]:
    """The session's Apicurio Registry (fails the session's registry tests if it cannot run)."""
    reg = ApicurioRegistry(free_port(), tmp_path_factory.mktemp("apicurio"))
    reg.start()
    yield reg
    reg.stop()


def _now() -> int:
    return time.time_ns() // 1_000_000


def _schema(history: bool = False) -> str:
    path = schema_dir() / ("history/WorkflowEvent.v1.avsc" if history else "WorkflowEvent.avsc")
    return json.dumps(json.loads(path.read_text()))


def _produce(kafka: str, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    """Publish with librdkafka (confluent-kafka), the standard client."""
    import confluent_kafka

    producer = confluent_kafka.Producer({"bootstrap.servers": kafka, "enable.idempotence": True})
    for key, value in items:
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0


async def _raw(settings: Settings, topic: str) -> list[bytes]:
    return [rec.value async for rec in read_topic(settings, topic)]


async def _wait(settings: Settings, topics: list[str], n: int, timeout: float = 90.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        total = sum([len(await _raw(settings, t)) for t in topics])
        if total >= n or time.monotonic() > deadline:
            return total
        await asyncio.sleep(1.0)


def _serializer(url: str, schema: str) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
    from confluent_kafka.schema_registry.avro import AvroSerializer

    # The plain TopicNameStrategy, named: confluent-kafka 2.16's default first asks the
    # registry for subject "associations", an endpoint Apicurio answers with 404, and one
    # such request was seen to hang the test in CI. A timeout bounds every request.
    return AvroSerializer(
        SchemaRegistryClient({"url": url, "timeout": 10}),
        schema,
        conf={"subject.name.strategy": topic_subject_name_strategy},
    )


def _ctx(topic: str) -> Any:
    from confluent_kafka.serialization import MessageField, SerializationContext

    return SerializationContext(topic, MessageField.VALUE)


async def test_standard_serializer_in_standard_deserializer_out(
    sluice_env: dict[str, str], kafka: str, apicurio: ApicurioRegistry, tmp_path: Path
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    env = {
        **sluice_env,
        "SLUICE_SCHEMA_REGISTRY_URL": apicurio.url,
        "SLUICE_OUTPUT_FRAMING": "confluent",
    }
    settings = settings_from_env(env)
    topics = topics_for(env)
    client = RegistryClient(apicurio.url)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()  # returns once the schemas are registered and the stages run
    try:
        subject = f"{topics.events}-value"
        assert client.compatibility(subject) == "BACKWARD"
        assert client.compatibility(f"{topics.approved}-value") == "BACKWARD"
        events = make_events(12, held_share=0.0, seed=11, now_ms=_now())
        current = _serializer(apicurio.url, _schema())
        # An older producer still on the v1 schema: BACKWARD lets the registry take it
        # as a version of the same subject, and sluice resolves it into the current one.
        old = _serializer(apicurio.url, _schema(history=True))
        items: list[tuple[bytes, bytes]] = []
        for i, ev in enumerate(events):
            if i % 3 == 0:
                v1 = {
                    k: v for k, v in ev.items() if k not in ("trace_id", "cost_usd", "attributes")
                }
                value = old(v1, _ctx(topics.events))
            elif i % 3 == 1:
                value = current(ev, _ctx(topics.events))
            else:
                value = default_codec().encode("WorkflowEvent", ev)  # single-object still works
            items.append((ev["run_id"].encode(), value))
        body = default_codec().encode("WorkflowEvent", events[0])[10:]
        foreign_id = client.register("not-a-sluice-topic-value", _schema())
        assert foreign_id == int.from_bytes(items[1][1][1:5], "big")  # same schema, same id
        other = {"type": "record", "name": "Other", "namespace": "x", "fields": []}
        other_id = client.register("another-topic-value", other)
        items += [
            (b"bad-unknown", frame_confluent(987654, body)),
            (b"bad-subject", frame_confluent(other_id, b"")),
        ]
        _produce(kafka, topics.events, items)
        outs = [topics.approved, topics.rejected, topics.approvals, topics.dlq]
        assert await _wait(settings, outs, len(items)) == len(items)
        metrics = worker.metrics_text()
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]

    deser = AvroDeserializer(SchemaRegistryClient({"url": apicurio.url, "timeout": 10}))
    decided = []
    for topic in (topics.approved, topics.rejected):
        for value in await _raw(settings, topic):
            assert value[:1] == b"\x00"  # the operator chose Confluent framing
            rec = deser(value, _ctx(topic))
            inner = default_codec().decode("WorkflowEvent", rec["event"])
            assert str(rec["event_id"]) == inner["event_id"]
            decided.append(inner["event_id"])
    assert sorted(decided) == sorted(e["event_id"] for e in events)
    dead = await collect(settings, topics.dlq)
    assert sorted(d["error_code"] for d in dead) == ["schema_wrong_subject", "unknown_schema_id"]
    assert 'sluice_validation_failures_total{reason="unknown_schema_id"} 1.0' in metrics


async def test_registry_outage_delays_never_dead_letters(
    sluice_env: dict[str, str], kafka: str, apicurio: ApicurioRegistry, tmp_path: Path
) -> None:
    env = {**sluice_env, "SLUICE_SCHEMA_REGISTRY_URL": apicurio.url}
    settings = settings_from_env(env)
    topics = topics_for(env)
    client = RegistryClient(apicurio.url)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        serialize = _serializer(apicurio.url, _schema())
        first = make_events(3, held_share=0.0, seed=21, now_ms=_now())
        items = [(e["run_id"].encode(), serialize(e, _ctx(topics.events))) for e in first]
        _produce(kafka, topics.events, items)
        outs = [topics.approved, topics.rejected, topics.approvals, topics.dlq]
        assert await _wait(settings, outs, 3) == 3  # the current schema's id is cached now
        # A schema id this worker has not seen yet (v1 as a new subject version),
        # registered while the registry is up; records with it are produced in the outage.
        old_id = client.register(f"{topics.events}-value", _schema(history=True))
        apicurio.stop()
        later = make_events(4, held_share=0.0, seed=22, now_ms=_now())
        cached = [(e["run_id"].encode(), serialize(e, _ctx(topics.events))) for e in later[:2]]
        old_schema = fastavro.parse_schema(json.loads(_schema(history=True)))
        fresh = []
        for e in later[2:]:
            buf = io.BytesIO()
            v1 = {k: v for k, v in e.items() if k not in ("trace_id", "cost_usd", "attributes")}
            fastavro.schemaless_writer(buf, old_schema, v1)
            fresh.append((e["run_id"].encode(), frame_confluent(old_id, buf.getvalue())))
        _produce(kafka, topics.events, cached)
        assert await _wait(settings, outs, 5, timeout=60) == 5  # cached ids need no registry
        _produce(kafka, topics.events, fresh)
        await asyncio.sleep(8)  # the worker retries with backoff meanwhile
        assert worker.proc is not None and worker.proc.poll() is None, "worker must not crash"
        assert len(await _raw(settings, topics.dlq)) == 0, "an outage never dead-letters"
        assert await _wait(settings, outs, 7, timeout=1) == 5  # waiting, not dropped
        apicurio.start()  # same data dir: ids survive
        assert await _wait(settings, outs, 7, timeout=90) == 7
    finally:
        if not apicurio.running:
            apicurio.start()
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert len(await _raw(settings, topics.dlq)) == 0
    log = (tmp_path / "worker.log").read_text()
    assert "schema registry unavailable; batch will be retried" in log
