"""``sluice dev broker``'s cluster id follows Kafka's ``Uuid.randomUuid()`` rule."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from sluice.tools.dev import broker
from sluice.tools.dev.broker import _cluster_id, kafka_uuid_string

# 0xF8 as first byte: the first six bits are 62, which URL-safe base64 writes as "-".
DASH = uuid.UUID(bytes=b"\xf8" + bytes(range(1, 16)))
GOOD = uuid.UUID(bytes=b"\x01" * 16)


def test_many_ids_are_valid_kafka_uuids() -> None:
    ids = [_cluster_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        assert len(text) == 22 and not text.startswith("-")
        raw = base64.urlsafe_b64decode(text + "==")
        assert len(raw) == 16 and kafka_uuid_string(raw) == text
        assert uuid.UUID(bytes=raw).version == 4


def test_the_old_generator_did_start_with_a_dash() -> None:
    # What made `kafka-storage format -t <id>` fail: the rule below is not vacuous.
    assert kafka_uuid_string(DASH.bytes).startswith("-")


def _feed(monkeypatch: pytest.MonkeyPatch, values: list[uuid.UUID]) -> list[uuid.UUID]:
    it: Iterator[uuid.UUID] = iter(values)
    drawn: list[uuid.UUID] = []

    def fake() -> uuid.UUID:
        u = next(it)
        drawn.append(u)
        return u

    monkeypatch.setattr(broker.uuid, "uuid4", fake)
    return drawn


def test_a_dash_first_id_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _feed(monkeypatch, [DASH, DASH, GOOD])
    assert _cluster_id() == kafka_uuid_string(GOOD.bytes)
    assert drawn == [DASH, DASH, GOOD]


@pytest.mark.parametrize("reserved", [bytes(16), bytes(15) + b"\x01"])
def test_reserved_uuids_are_drawn_again(monkeypatch: pytest.MonkeyPatch, reserved: bytes) -> None:
    drawn = _feed(monkeypatch, [uuid.UUID(bytes=reserved), GOOD])
    assert _cluster_id() == kafka_uuid_string(GOOD.bytes)
    assert len(drawn) == 2


def test_a_dash_inside_is_kept_like_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka only refuses a leading "-" (an argument that reads as an option).
    inner = uuid.UUID(bytes=b"\x00\x0f\x80" + b"\x11" * 13)
    assert "-" in kafka_uuid_string(inner.bytes)[1:]
    _feed(monkeypatch, [inner])
    assert _cluster_id() == kafka_uuid_string(inner.bytes)
