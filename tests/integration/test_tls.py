"""Compose's ``tls`` profile, minus the containers: ``deploy/compose/tls/make-certs.sh``
makes the keystore and CA; a local Apache Kafka gets an SSL listener configured from the
same ``KAFKA_SSL_*`` settings compose gives the apache/kafka image; a ``sluice run``
worker configured only through ``SLUICE_*`` settings (as the ``sluice-tls`` service is)
gates events over it; a client that does not trust that CA is refused.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sluice.tools.bench.events import make_events
from sluice.tools.chaos.load import encode_events
from sluice.tools.dev.broker import KafkaBroker, free_port
from tests.helpers import WorkerProcess, produce, settings_from_env, topics_for, wait_for_count

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
SCRIPT = ROOT / "deploy" / "compose" / "tls" / "make-certs.sh"


class TlsKafka:
    def __init__(self, bootstrap: str, ca: Path) -> None:
        self.bootstrap = bootstrap
        self.ca = ca


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    if shutil.which("keytool") is None:
        pytest.fail("keytool not found: it comes with the JRE the local Kafka needs")
    base = tmp_path_factory.mktemp("kafka-tls")
    broker_dir, ca_dir = base / "broker", base / "ca"
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(broker_dir), str(ca_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # What the apache/kafka image's configure script makes of compose's settings.
    env = yaml.safe_load(COMPOSE.read_text())["services"]["kafka"]["environment"]
    props = {
        "ssl.keystore.type": env["KAFKA_SSL_KEYSTORE_TYPE"],
        "ssl.keystore.location": str(broker_dir / env["KAFKA_SSL_KEYSTORE_FILENAME"]),
        "ssl.keystore.password": (broker_dir / env["KAFKA_SSL_KEYSTORE_CREDENTIALS"]).read_text(),
        "ssl.key.password": (broker_dir / env["KAFKA_SSL_KEY_CREDENTIALS"]).read_text(),
    }
    plain_port = free_port(pair=True)
    ssl_port = free_port()
    while ssl_port in (plain_port, plain_port + 1):
        ssl_port = free_port()
    broker = KafkaBroker(
        plain_port,
        base / "kafka",
        heap="384m",
        extra_listeners={"SSL": (ssl_port, "SSL")},
        extra_properties=props,
    )
    broker.start()
    try:
        yield TlsKafka(f"127.0.0.1:{ssl_port}", ca_dir / "ca.crt")
    finally:
        broker.stop()


def _env(tls_kafka: TlsKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {
        "SLUICE_BOOTSTRAP_SERVERS": tls_kafka.bootstrap,
        "SLUICE_SECURITY_PROTOCOL": "SSL",
        "SLUICE_SSL_CAFILE": str(tls_kafka.ca),
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "SLUICE_GROUP_ID": f"{prefix}intake",
        "SLUICE_GATE_GROUP_ID": f"{prefix}gate",
        "SLUICE_FINGERPRINT_KEY": "test-fingerprint-key",
        "SLUICE_PARTITIONS": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _sluice(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def test_worker_gates_events_over_tls(
    tls_kafka: TlsKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tls_kafka, tmp_path, monkeypatch)
    created = _sluice(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        assert worker.wait_ready(), (tmp_path / "worker.log").read_text()[-2000:]
        settings = settings_from_env(env)
        topics = topics_for(env)
        events = make_events(4, held_share=0.0, seed=21)
        asyncio.run(produce(settings, topics.events, encode_events(events)))
        got = asyncio.run(wait_for_count(settings, [topics.approved, topics.rejected], 4))
        ids = {r["event_id"] for recs in got.values() for r in recs}
        assert ids == {e["event_id"] for e in events}
    finally:
        worker.stop()


def test_client_without_the_ca_is_refused(
    tls_kafka: TlsKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tls_kafka, tmp_path, monkeypatch)
    del env["SLUICE_SSL_CAFILE"]  # the system trust store does not know the compose CA
    monkeypatch.delenv("SLUICE_SSL_CAFILE")
    proc = _sluice(env, "topics", "create", "--json")
    assert proc.returncode != 0
    assert "created" not in proc.stdout
