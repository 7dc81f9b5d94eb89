"""Kafka SASL (SCRAM-SHA-512 and PLAIN) for sluice's clients, against a real broker.

A second local Apache Kafka gets a SASL_PLAINTEXT listener; SCRAM credentials are
created when its storage is formatted, PLAIN users come from the listener's JAAS
config. sluice's CLI, configured only through ``SLUICE_*`` settings (password from a
``*_FILE``), creates topics, publishes and reads events; a wrong password fails; the
password never appears in output or logs.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from sluice.cli.main import main
from sluice.tools.bench.events import make_events
from sluice.tools.dev.broker import KafkaBroker, free_port

pytestmark = pytest.mark.integration

USER = "sluice"


class SaslKafka:
    """The broker plus the credentials it accepts."""

    def __init__(
        self, broker: KafkaBroker, sasl_port: int, scram_password: str, plain_password: str
    ) -> None:
        self.broker = broker
        self.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
        self.scram_password = scram_password
        self.plain_password = plain_password


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslKafka]:
    # Synthetic credentials, made per run.
    scram_password = "scram-" + secrets.token_urlsafe(18)
    plain_password = "plain-" + secrets.token_urlsafe(18)
    sasl_port = free_port()
    plain_port = free_port(pair=True)
    while sasl_port in (plain_port, plain_port + 1):
        sasl_port = free_port()
    jaas = "listener.name.sasl_plaintext"
    broker = KafkaBroker(
        plain_port,
        tmp_path_factory.mktemp("kafka-sasl"),
        heap="384m",
        extra_listeners={"SASL_PLAINTEXT": (sasl_port, "SASL_PLAINTEXT")},
        extra_properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            f"{jaas}.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            f"{jaas}.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            f"{jaas}.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain."
            "PlainLoginModule required "
            f'user_{USER}="{plain_password}";',
        },
        scram_users={USER: scram_password},
    )
    broker.start()
    try:
        yield SaslKafka(broker, sasl_port, scram_password, plain_password)
    finally:
        broker.stop()


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bootstrap: str, mechanism: str) -> str:
    prefix = f"s{secrets.token_hex(5)}."
    for key in ("SLUICE_SASL_PASSWORD", "SLUICE_SASL_PASSWORD_FILE"):
        monkeypatch.delenv(key, raising=False)
    env = {
        "SLUICE_BOOTSTRAP_SERVERS": bootstrap,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "SLUICE_PARTITIONS": "1",
        "SLUICE_FINGERPRINT_KEY": "test-fingerprint-key",
        "SLUICE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SLUICE_SASL_MECHANISM": mechanism,
        "SLUICE_SASL_USERNAME": USER,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return prefix


def _password_file(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "kafka-password"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def _assert_not_leaked(password: str, *texts: str) -> None:
    for text in texts:
        assert password not in text


def test_scram_sha_512_client_creates_topics_publishes_and_reads(
    sasl_kafka: SaslKafka,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    prefix = _env(monkeypatch, tmp_path, sasl_kafka.sasl_bootstrap, "SCRAM-SHA-512")
    monkeypatch.setenv(
        "SLUICE_SASL_PASSWORD_FILE", str(_password_file(tmp_path, sasl_kafka.scram_password))
    )

    assert main(["topics", "create", "--json"]) == 0
    created = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {c["status"] for c in created} == {"created"}
    assert f"{prefix}workflow.events" in {c["topic"] for c in created}

    events = make_events(5, held_share=0.0, seed=7)
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    assert main(["emit", str(source)]) == 0
    emitted = capsys.readouterr()

    assert main(["tail", f"{prefix}workflow.events", "--from-beginning", "-n", "5", "--json"]) == 0
    tailed = capsys.readouterr()
    records = [orjson.loads(line) for line in tailed.out.splitlines() if line.strip()]
    assert {r["schema"] for r in records} == {"WorkflowEvent"}
    got = {r["value"]["event_id"] for r in records}
    assert got == {e["event_id"] for e in events}

    _assert_not_leaked(
        sasl_kafka.scram_password, emitted.out, emitted.err, tailed.out, tailed.err, caplog.text
    )


def test_wrong_scram_password_fails_without_leaking_it(
    sasl_kafka: SaslKafka,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _env(monkeypatch, tmp_path, sasl_kafka.sasl_bootstrap, "SCRAM-SHA-512")
    wrong = "wrong-" + secrets.token_urlsafe(18)
    monkeypatch.setenv("SLUICE_SASL_PASSWORD_FILE", str(_password_file(tmp_path, wrong)))
    error = ""
    try:
        code = main(["topics", "create"])
    except Exception as exc:  # an unwrapped client error still counts as a failure
        code, error = -1, f"{type(exc).__name__}: {exc}"
    out = capsys.readouterr()
    assert code != 0
    assert "created" not in out.out
    _assert_not_leaked(wrong, out.out, out.err, caplog.text, error)
    _assert_not_leaked(sasl_kafka.scram_password, out.out, out.err, caplog.text, error)


def test_plain_mechanism_with_inline_password(
    sasl_kafka: SaslKafka,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    prefix = _env(monkeypatch, tmp_path, sasl_kafka.sasl_bootstrap, "PLAIN")
    monkeypatch.setenv("SLUICE_SASL_PASSWORD", sasl_kafka.plain_password)
    assert main(["topics", "create", "--json"]) == 0
    out = capsys.readouterr()
    assert f"{prefix}workflow.audit" in out.out
    _assert_not_leaked(sasl_kafka.plain_password, out.out, out.err, caplog.text)


def test_sasl_settings_missing_password_is_a_config_error(
    sasl_kafka: SaslKafka,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, tmp_path, sasl_kafka.sasl_bootstrap, "SCRAM-SHA-512")
    assert main(["topics", "create"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sluice: error:") and "SLUICE_SASL_PASSWORD" in err


async def test_librdkafka_stage_producer_over_scram_without_leaking(
    sasl_kafka: SaslKafka,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SLUICE_KAFKA_CLIENT=confluent: the same SASL settings reach librdkafka; its
    transactional producer registers over SCRAM-SHA-512; a wrong password fails, and
    neither password is logged."""
    from sluice.kafka.transport import stage_producer
    from sluice.settings import load_settings

    caplog.set_level(logging.DEBUG)
    _env(monkeypatch, tmp_path, sasl_kafka.sasl_bootstrap, "SCRAM-SHA-512")
    monkeypatch.setenv("SLUICE_KAFKA_CLIENT", "confluent")
    monkeypatch.setenv("SLUICE_SASL_PASSWORD", sasl_kafka.scram_password)
    good = stage_producer(load_settings(), f"sasl-{secrets.token_hex(4)}", lambda: None)
    await good.start()  # InitProducerId over SASL: authenticated
    await good.begin_transaction()
    await good.abort_transaction()
    await good.stop()

    wrong = "wrong-" + secrets.token_urlsafe(18)
    monkeypatch.setenv("SLUICE_SASL_PASSWORD", wrong)
    bad = stage_producer(
        load_settings(transaction_timeout_ms=5000), f"sasl-{secrets.token_hex(4)}", lambda: None
    )
    with pytest.raises(Exception) as refused:
        await bad.start()
    _assert_not_leaked(wrong, caplog.text, repr(refused.value))
    _assert_not_leaked(sasl_kafka.scram_password, caplog.text, repr(refused.value))
