"""Registry framing and RegistryCodec against an in-memory fake registry (fast, no network).

The same behaviour against a real Apicurio Registry: tests/integration/test_schema_registry.py.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import fastavro
import pytest

from sluice.codec import default_codec, schema_dir
from sluice.codec.framed import RegistryCodec, codec_for, ready, resolve_batch
from sluice.codec.registry import (
    LRU,
    RegistryClient,
    RegistryUnavailable,
    SchemaNotFound,
    frame_confluent,
    framing,
    split_confluent,
    subject_name,
)
from sluice.errors import ConfigError, DecodeError, ErrorCode
from sluice.settings import Settings
from sluice.tools.bench.events import make_events
from sluice.topics import Topics


class FakeRegistry:
    """Just enough of RegistryClient: ids, subjects, and an on/off switch."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.by_subject: dict[str, list[int]] = {}
        self.compat: dict[str, str] = {}
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise RegistryUnavailable("down")

    def register(self, subject: str, schema: dict[str, Any] | str) -> int:
        self._check()
        text = schema if isinstance(schema, str) else json.dumps(schema)
        known = {t: i for i, t in self.schemas.items()}
        sid = known.get(text) or len(self.schemas) + 1
        self.schemas[sid] = text
        ids = self.by_subject.setdefault(subject, [])
        if sid not in ids:
            ids.append(sid)
        return sid

    def set_compatibility(self, subject: str, level: str = "BACKWARD") -> None:
        self._check()
        self.compat[subject] = level

    def schema(self, schema_id: int) -> str:
        self._check()
        if schema_id not in self.schemas:
            raise SchemaNotFound(str(schema_id))
        return self.schemas[schema_id]

    def subjects(self, schema_id: int) -> list[str]:
        self._check()
        return [s for s, ids in self.by_subject.items() if schema_id in ids]


TOPICS = Topics.with_prefix("p.")


def _codec(framing_out: str = "single-object") -> tuple[RegistryCodec, FakeRegistry]:
    fake = FakeRegistry()
    codec = RegistryCodec(fake, TOPICS, output_framing=framing_out)  # type: ignore[arg-type]
    return codec, fake


def _confluent(sid: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return frame_confluent(sid, buf.getvalue())


def test_framing_helpers() -> None:
    data = frame_confluent(258, b"body")
    assert data == b"\x00\x00\x00\x01\x02body"
    assert split_confluent(data) == (258, b"body")
    assert framing(data) == "confluent"
    assert framing(default_codec().encode("WorkflowEvent", make_events(1)[0])) == "single-object"
    assert framing(b"xx") == "unknown" and framing(b"") == "unknown"


def test_subject_strategies() -> None:
    assert subject_name("topic", "workflow.events", "sluice.v1.WorkflowEvent") == (
        "workflow.events-value"
    )
    assert subject_name("record", "t", "sluice.v1.WorkflowEvent") == "sluice.v1.WorkflowEvent"
    assert subject_name("topic_record", "t", "sluice.v1.X") == "t-sluice.v1.X"


def test_lru_is_bounded() -> None:
    lru = LRU(2)
    lru.put(1, "a")
    lru.put(2, "b")
    assert lru.get(1) == "a"  # 1 is now the most recent
    lru.put(3, "c")
    assert 2 not in lru and 1 in lru and 3 in lru and len(lru) == 2


def test_confluent_and_single_object_decode_alike() -> None:
    codec, fake = _codec()
    ids = codec.register_outputs()
    assert fake.compat == {
        "p.workflow.events-value": "BACKWARD",
        "p.workflow.events.approved-value": "BACKWARD",
        "p.workflow.events.rejected-value": "BACKWARD",
    }
    ev = make_events(1, seed=3)[0]
    sid = fake.register("p.workflow.events-value", codec.schema("WorkflowEvent"))
    single = codec.encode("WorkflowEvent", ev)
    framed = frame_confluent(sid, single[10:])
    assert codec.decode("WorkflowEvent", framed) == codec.decode("WorkflowEvent", single)
    assert codec.decode_any(framed)[0] == "WorkflowEvent"
    assert set(ids) == {"Outcome"}


def test_old_writer_from_registry_resolves_into_current() -> None:
    codec, fake = _codec()
    old = json.loads((schema_dir() / "history" / "WorkflowEvent.v1.avsc").read_text())
    sid = fake.register("p.workflow.events-value", old)
    ev = make_events(1, seed=2)[0]
    v1 = {k: v for k, v in ev.items() if k not in ("trace_id", "cost_usd", "attributes")}
    back = codec.decode("WorkflowEvent", _confluent(sid, old, v1))
    assert back["attributes"] == {} and back["cost_usd"] is None
    assert back["content"] == ev["content"]


def test_unknown_id_is_a_code_and_is_remembered() -> None:
    codec, fake = _codec()
    data = frame_confluent(4242, b"\x00" * 20)
    for _ in range(3):
        with pytest.raises(DecodeError) as info:
            codec.decode("WorkflowEvent", data)
        assert info.value.code == ErrorCode.UNKNOWN_SCHEMA_ID
    assert fake.calls == 1  # negative cache: the registry was asked once


def test_wrong_subject_and_wrong_record() -> None:
    codec, fake = _codec()
    ev = make_events(1)[0]
    body = codec.encode("WorkflowEvent", ev)[10:]
    elsewhere = fake.register("some.other.topic-value", codec.schema("WorkflowEvent"))
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", frame_confluent(elsewhere, body))
    assert info.value.code == ErrorCode.SCHEMA_WRONG_SUBJECT
    foreign = {"type": "record", "name": "Other", "fields": [{"name": "a", "type": "int"}]}
    fid = fake.register("p.workflow.events-value", foreign)
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", _confluent(fid, foreign, {"a": 1}))
    assert info.value.code == ErrorCode.WRONG_SCHEMA


@pytest.mark.parametrize(
    "text", ['syntax = "proto3"; message M {}', "{not json", '{"type": "nonsense"}']
)
def test_non_avro_or_unparseable_schema_is_wrong_schema(text: str) -> None:
    codec, fake = _codec()
    sid = fake.register("p.workflow.events-value", text)
    if text.startswith("syntax"):

        def not_avro(schema_id: int) -> str:
            raise ValueError("schema is PROTOBUF, not AVRO")

        fake.schema = not_avro  # type: ignore[method-assign]
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", frame_confluent(sid, b"\x00"))
    assert info.value.code == ErrorCode.WRONG_SCHEMA


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b[:3], ErrorCode.TRUNCATED),
        (lambda b: b[: len(b) - 30], ErrorCode.TRUNCATED),
        (lambda b: b + b"\x00", ErrorCode.TRAILING_BYTES),
    ],
)
def test_confluent_decode_errors(mutate, code: ErrorCode) -> None:  # type: ignore[no-untyped-def]
    codec, fake = _codec()
    sid = fake.register("p.workflow.events-value", codec.schema("WorkflowEvent"))
    data = frame_confluent(sid, codec.encode("WorkflowEvent", make_events(1)[0])[10:])
    with pytest.raises(DecodeError) as info:
        codec.decode("WorkflowEvent", mutate(data))
    assert info.value.code == code


def test_outcomes_written_in_the_chosen_framing_rest_single_object() -> None:
    codec, fake = _codec("confluent")
    with pytest.raises(RegistryUnavailable):  # not registered yet: never silently unframed
        codec.encode("Outcome", {})
    ids = codec.register_outputs()
    from tests.unit.codec.test_avro import _samples

    outcome = _samples()["Outcome"]
    data = codec.encode("Outcome", outcome)
    assert data[:1] == b"\x00" and split_confluent(data)[0] == ids["Outcome"]
    back = fastavro.schemaless_reader(
        io.BytesIO(data[5:]), fastavro.parse_schema(json.loads(fake.schemas[ids["Outcome"]]))
    )
    # A standard reader applies the logical types (uuid → UUID); sluice reads base types.
    assert isinstance(back, dict) and str(back["event_id"]) == outcome["event_id"]
    assert codec.decode("Outcome", data)["event_id"] == outcome["event_id"]
    dead = codec.encode("DeadLetter", _samples()["DeadLetter"])
    assert dead[:2] == b"\xc3\x01"


class _Rec:
    def __init__(self, value: bytes | None) -> None:
        self.value = value


async def test_outage_raises_after_backoff_then_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    codec, fake = _codec()
    sid = fake.register("p.workflow.events-value", codec.schema("WorkflowEvent"))
    data = frame_confluent(sid, codec.encode("WorkflowEvent", make_events(1)[0])[10:])
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    monkeypatch.setattr("sluice.codec.framed.asyncio.sleep", fake_sleep)
    batch = {"tp": [_Rec(data), _Rec(None), _Rec(b"\x00")]}
    fake.down = True
    for _ in range(3):
        with pytest.raises(RegistryUnavailable):
            await resolve_batch(codec, batch)
    assert slept == [0.25, 0.5, 1.0]  # growing backoff
    fake.down = False
    await resolve_batch(codec, batch)
    assert codec.decode("WorkflowEvent", data)["event_id"]
    fake.down = True  # cached now: decoding needs no registry
    await resolve_batch(codec, batch)
    assert codec.decode("WorkflowEvent", data)["event_id"]


async def test_ready_retries_until_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    codec, fake = _codec("confluent")
    fake.down = True

    async def fake_sleep(s: float) -> None:
        fake.down = False

    monkeypatch.setattr("sluice.codec.framed.asyncio.sleep", fake_sleep)
    await ready(codec, asyncio.Event())
    assert codec.encode("Outcome", {**_outcome()})[:1] == b"\x00"


def _outcome() -> dict[str, Any]:
    from tests.unit.codec.test_avro import _samples

    return _samples()["Outcome"]


async def test_plain_codec_needs_no_registry() -> None:
    await resolve_batch(default_codec(), {"tp": [_Rec(b"\x00\x00\x00\x00\x01")]})
    await ready(default_codec())


def test_codec_for_settings() -> None:
    assert codec_for(Settings()) is default_codec()
    with pytest.raises(ConfigError):
        codec_for(Settings(output_framing="confluent"))
    with pytest.raises(ConfigError):
        codec_for(Settings(schema_registry_url="ftp://x"))
    a = codec_for(Settings(schema_registry_url="http://127.0.0.1:1"))
    assert isinstance(a, RegistryCodec)
    assert a is codec_for(Settings(schema_registry_url="http://127.0.0.1:1"))  # shared


def test_client_unreachable_is_unavailable() -> None:
    client = RegistryClient("http://127.0.0.1:1", timeout=1)
    with pytest.raises(RegistryUnavailable):
        client.schema(1)
