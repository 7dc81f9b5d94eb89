"""sluice.kafka.confluent without a broker: settings → librdkafka config, client choice,
hostile header names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from sluice.errors import ConfigError
from sluice.kafka.confluent import CkProducer, _headers, librdkafka_config
from sluice.kafka.confluent_outbox import CkOutbox
from sluice.kafka.outbox import Outbox
from sluice.kafka.transport import new_outbox, stage_consumer, stage_producer
from sluice.settings import load_settings

BASE: dict[str, Any] = {"fingerprint_key": "k" * 8, "bootstrap_servers": "127.0.0.1:1"}


def test_plaintext_and_tls_files_map_to_librdkafka(tmp_path: Path) -> None:
    plain = librdkafka_config(load_settings(**BASE))
    assert plain["bootstrap.servers"] == "127.0.0.1:1"
    assert plain["security.protocol"] == "plaintext"
    assert not any(k.startswith(("ssl.", "sasl.")) for k in plain)

    tls = librdkafka_config(
        load_settings(
            **BASE,
            security_protocol="SSL",
            ssl_cafile=tmp_path / "ca.pem",
            ssl_certfile=tmp_path / "c.pem",
            ssl_keyfile=tmp_path / "k.pem",
            ssl_key_password="kp",
        )
    )
    assert tls["security.protocol"] == "ssl"
    assert tls["ssl.ca.location"] == str(tmp_path / "ca.pem")
    assert tls["ssl.certificate.location"] == str(tmp_path / "c.pem")
    assert tls["ssl.key.location"] == str(tmp_path / "k.pem")
    assert tls["ssl.key.password"] == "kp"
    # Host name checked, as Python's default SSL context does.
    assert tls["ssl.endpoint.identification.algorithm"] == "https"
    # No CA given: the system's trust store, never "trust anything".
    assert (
        librdkafka_config(load_settings(**BASE, security_protocol="SSL"))["ssl.ca.location"]
        == "probe"
    )


def test_sasl_maps_and_refuses_missing_credentials() -> None:
    conf = librdkafka_config(
        load_settings(
            **BASE,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="u",
            sasl_password="p",
        )
    )
    assert conf["security.protocol"] == "sasl_ssl"
    assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        "SCRAM-SHA-512",
        "u",
        "p",
    )
    with pytest.raises(ConfigError) as err:
        librdkafka_config(
            load_settings(
                **BASE,
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN",
                sasl_username="u",
            )
        )
    assert "SLUICE_SASL_PASSWORD" in str(err.value)


async def test_client_setting_picks_the_stage_clients() -> None:
    with pytest.raises(ConfigError):
        load_settings(**BASE, kafka_client="kafka-python")
    assert load_settings(**BASE).kafka_client == "confluent"  # the default
    aio = load_settings(**BASE, kafka_client="aiokafka")
    assert aio.kafka_client == "aiokafka"
    p = stage_producer(aio, "t", lambda: None)
    assert isinstance(p, AIOKafkaProducer)
    assert isinstance(new_outbox(p, {}), Outbox)

    ck = load_settings(**BASE, kafka_client="confluent")
    cp = stage_producer(ck, "t", lambda: None)
    assert isinstance(cp, CkProducer)
    assert isinstance(new_outbox(cp, {}), CkOutbox)
    consumer = stage_consumer(
        ck,
        "g",
        max_partition_fetch_bytes=1024,
        fetch_max_bytes=4 * 1024 * 1024,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=6000,
        fetch_max_wait_ms=100,
    )
    assert consumer.assignment() == set()


async def test_send_offsets_without_group_metadata_is_refused() -> None:
    """No fetch yet (no member id, no generation): never commit offsets without them."""
    from sluice.kafka.confluent import StaleGroupMetadata

    cp = stage_producer(load_settings(**BASE, kafka_client="confluent"), "t", lambda: None)
    with pytest.raises(StaleGroupMetadata):
        await cp.send_offsets_to_transaction({}, "g")


class _Msg:
    def __init__(self, headers: Any) -> None:
        self._h = headers

    def headers(self) -> Any:
        if isinstance(self._h, Exception):
            raise self._h
        return self._h


def test_hostile_header_name_does_not_poison_the_record() -> None:
    bad = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    assert _headers(_Msg(bad)) == ()
    # what confluent-kafka 2.16 actually raises for a non-UTF-8 header name (seen in
    # tests/integration/test_producer_auth.py with SLUICE_KAFKA_CLIENT=confluent)
    wrapped = SystemError(
        "<method 'headers' of 'Message' objects> returned a result with an exception set"
    )
    assert _headers(_Msg(wrapped)) == ()
    assert _headers(_Msg(None)) == ()
    assert _headers(_Msg([("traceparent", b"00-ab"), ("x", None)])) == (
        ("traceparent", b"00-ab"),
        ("x", b""),
    )


def test_committed_head_metadata_with_librdkafkas_trailing_nul() -> None:
    """confluent-kafka commits offset metadata with the C string's NUL; the head still
    parses (else a restarted stage would start its chain at genesis), and only one NUL
    is tolerated."""
    from types import SimpleNamespace

    from sluice.audit.chain import ChainHead
    from sluice.kafka.heads import _metadata

    meta = ChainHead(7, "ab" * 32).to_metadata()
    assert ChainHead.from_metadata(_metadata(SimpleNamespace(metadata=meta + "\x00"))) == (
        ChainHead(7, "ab" * 32)
    )
    assert ChainHead.from_metadata(_metadata(SimpleNamespace(metadata=meta))) == ChainHead(
        7, "ab" * 32
    )
    assert ChainHead.from_metadata(_metadata(SimpleNamespace(metadata=meta + "\x00\x00"))) is None
    assert _metadata(SimpleNamespace(metadata=None)) is None
