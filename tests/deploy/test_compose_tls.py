"""Compose's ``tls`` profile hangs together: the broker's TLS listener, the one-shot that
makes its keystore and CA, and the worker that verifies the broker with that CA.

That the certificates work with Apache Kafka and sluice's client is
``tests/integration/test_tls.py``; no container engine runs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
SCRIPT = COMPOSE_DIR / "tls" / "make-certs.sh"
TLS_KEYS = {"SLUICE_BOOTSTRAP_SERVERS", "SLUICE_SECURITY_PROTOCOL", "SLUICE_SSL_CAFILE"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())[
        "services"
    ]
    return services


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path → source (volume name or host path)."""
    out = {}
    for vol in service.get("volumes", []):
        src, dst = vol.split(":")[:2]
        out[dst] = src
    return out


def _listener(env: dict[str, str], name: str) -> str:
    for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        if item.startswith(f"{name}://"):
            return item.split("://", 1)[1]
    pytest.fail(f"no {name} listener")


def test_tls_worker_is_the_worker_over_tls(services: dict[str, Any]) -> None:
    plain, tls = services["sluice"], services["sluice-tls"]
    assert "profiles" not in plain and tls["profiles"] == ["tls"]
    assert tls["command"] == plain["command"] and tls["image"] == plain["image"]
    env = tls["environment"]
    same = {k: v for k, v in env.items() if k not in TLS_KEYS}
    assert same == {k: v for k, v in plain["environment"].items() if k not in TLS_KEYS}
    assert _mounts(plain).items() <= _mounts(tls).items()
    assert env["SLUICE_SECURITY_PROTOCOL"] == "SSL"
    assert env["SLUICE_BOOTSTRAP_SERVERS"] == _listener(services["kafka"]["environment"], "SSL")
    # Prometheus scrapes sluice:9464 whichever worker runs.
    assert "sluice" in tls["networks"]["default"]["aliases"]
    assert "sluice" not in services["prometheus"].get("depends_on", [])  # --scale sluice=0


def test_broker_tls_listener_reads_what_make_certs_writes(services: dict[str, Any]) -> None:
    kafka, certs = services["kafka"], services["kafka-certs"]
    env = kafka["environment"]
    assert "SSL:SSL" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert _listener(env, "SSL").startswith("kafka:")  # the name the certificate carries
    script = SCRIPT.read_text()
    assert "dns:kafka" in script
    for key in (
        "KAFKA_SSL_KEYSTORE_FILENAME",
        "KAFKA_SSL_KEYSTORE_CREDENTIALS",
        "KAFKA_SSL_KEY_CREDENTIALS",
    ):
        assert f"$broker_dir/{env[key]}" in script or env[key] in script, key
    assert env["KAFKA_SSL_KEYSTORE_TYPE"] == "PKCS12"
    # kafka-certs writes BROKER_DIR into the volume the broker reads its secrets from,
    # and CA_DIR into the volume the TLS worker reads its CA from.
    args = certs["entrypoint"]
    assert args[:2] == ["bash", "/opt/sluice-tls/make-certs.sh"]
    broker_dir, ca_dir = args[2], args[3]
    assert "--if-missing" in args
    certs_mounts, kafka_mounts = _mounts(certs), _mounts(kafka)
    assert kafka_mounts["/etc/kafka/secrets"] == certs_mounts[broker_dir]  # the image's path
    assert certs_mounts["/opt/sluice-tls/make-certs.sh"] == "./tls/make-certs.sh"
    ca_file = Path(services["sluice-tls"]["environment"]["SLUICE_SSL_CAFILE"])
    tls_mounts = _mounts(services["sluice-tls"])
    assert tls_mounts[str(ca_file.parent)] == certs_mounts[ca_dir]
    assert ca_file.name == "ca.crt" and "$ca_dir/ca.crt" in script
    # The worker never mounts the broker's private keystore.
    assert certs_mounts[broker_dir] not in tls_mounts.values()
    assert kafka["depends_on"]["kafka-certs"]["condition"] == "service_completed_successfully"


def test_tls_profile_is_documented() -> None:
    for doc in (COMPOSE_DIR / "compose.yaml", ROOT / "deploy" / "README.md"):
        text = doc.read_text()
        assert "--profile tls" in text and "--scale sluice=0" in text, doc
