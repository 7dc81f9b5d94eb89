"""The SASL redaction filter on aiokafka's connection log (sluice.logs)."""

from __future__ import annotations

import logging

from sluice.logs import RedactSaslAuth, redact_sasl_in_client_logs
from sluice.settings import load_settings


def record(level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.conn", level, __file__, 1, msg, args, None)


def test_debug_dump_of_a_sasl_request_is_redacted() -> None:
    rec = record(logging.DEBUG, "%s sent: %r", "conn", "SaslAuthenticateRequest(auth_bytes=b'pw')")
    assert RedactSaslAuth().filter(rec) is True  # kept, but without the request
    assert rec.getMessage() == "SASL authentication request (redacted)"


def test_other_records_pass_unchanged() -> None:
    rec = record(logging.DEBUG, "metadata %s", "updated")
    warning = record(logging.WARNING, "auth_bytes %s", "x")  # only DEBUG dumps requests
    assert RedactSaslAuth().filter(rec) and RedactSaslAuth().filter(warning)
    assert rec.getMessage() == "metadata updated" and warning.getMessage() == "auth_bytes x"


def test_sasl_settings_install_the_filter_once() -> None:
    conn_log = logging.getLogger("aiokafka.conn")
    settings = load_settings(
        fingerprint_key="k" * 8,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="p",
    )
    settings.kafka_kwargs()
    settings.kafka_kwargs()
    redact_sasl_in_client_logs()
    assert sum(isinstance(f, RedactSaslAuth) for f in conn_log.filters) == 1
