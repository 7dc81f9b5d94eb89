"""Red team (issue 11) against the pure intake: DLQ key redaction and producer
authentication edge cases (header spellings, key id variants, null/empty keys, topics).

The DLQ key attack worked on the hardened main (a record key that is a token plus one
invalid UTF-8 byte reached ``workflow.dlq`` verbatim); the rest are refused and stay as
regressions.
"""

from __future__ import annotations

import logging

import pytest

from sluice.errors import ErrorCode
from sluice.pipeline import Intake
from tests.unit.producers.test_producers import (  # noqa: F401 - fixtures
    HEADER_KEY,
    HEADER_SIG,
    INVOICE,
    TOPIC,
    _dlq_code,
    _record,
    _run,
    intake,
)

TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1yZ3bC5"  # a GitHub token shape


@pytest.mark.parametrize(
    "key",
    [
        TOKEN.encode(),
        TOKEN.encode() + b"\xff",
        b"\xff" + TOKEN.encode(),
        b"\xc3" + TOKEN.encode() + b"\x80\x80",
        b"run-\xed\xa0\x80" + TOKEN.encode(),  # CESU surrogate, then the token
        TOKEN.encode("utf-16-le"),
    ],
    ids=["utf8", "trailing-ff", "leading-ff", "broken-sequences", "surrogate", "utf16"],
)
def test_dlq_key_is_redacted_even_when_not_utf8(
    intake: Intake,  # noqa: F811
    key: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    r = intake.process(b"\x00not an event", key, (TOPIC, 0, 1), 1, 1, None)
    assert r.outcome == "invalid" and r.key is not None
    assert TOKEN.encode() not in r.key and TOKEN.encode("utf-16-le") not in r.key
    assert b"REDACTED" in r.key
    assert TOKEN.encode() not in r.value and TOKEN not in caplog.text


def test_dlq_key_without_a_secret_is_kept(intake: Intake) -> None:  # noqa: F811
    for key in (b"run-1", "r\u00e9sum\u00e9".encode()):
        assert intake.process(b"\x00", key, (TOPIC, 0, 1), 1, 1, None).key == key


def test_header_names_are_exact(intake: Intake) -> None:  # noqa: F811
    """A header spelled in another case or with a space is not the producer header."""
    key, value = _record()
    (_, kid), (_, tag) = INVOICE.headers(TOPIC, key, value)
    for name in (HEADER_KEY.upper(), HEADER_KEY + " ", " " + HEADER_KEY):
        headers = [(name, kid), (HEADER_SIG, tag)]
        assert _dlq_code(_run(intake, value, key, headers)) == ErrorCode.PRODUCER_UNSIGNED


@pytest.mark.parametrize("kid", [b"INVOICE-AGENT-1", b"invoice-agent-1 ", b"invoice_agent_1"])
def test_key_id_variants_are_not_the_key(intake: Intake, kid: bytes) -> None:  # noqa: F811
    key, value = _record()
    tag = INVOICE.headers(TOPIC, key, value)[1][1]
    code = _dlq_code(_run(intake, value, key, [(HEADER_KEY, kid), (HEADER_SIG, tag)]))
    assert code in (ErrorCode.PRODUCER_UNKNOWN_KEY, ErrorCode.PRODUCER_MALFORMED)


def test_null_key_and_empty_key_are_different_records(intake: Intake) -> None:  # noqa: F811
    _, value = _record()
    for signed_key, sent_key in ((None, b""), (b"", None)):
        headers = INVOICE.headers(TOPIC, signed_key, value)
        code = _dlq_code(_run(intake, value, sent_key, headers))
        assert code == ErrorCode.PRODUCER_BAD_SIGNATURE


def test_signature_for_an_empty_topic_is_not_valid_on_the_real_one(
    intake: Intake,  # noqa: F811
) -> None:
    key, value = _record()
    headers = INVOICE.headers("", key, value)
    assert _dlq_code(_run(intake, value, key, headers)) == ErrorCode.PRODUCER_BAD_SIGNATURE
    headers = INVOICE.headers(TOPIC, key, value)
    assert _run(intake, value, key, headers, topic="").outcome == "invalid"
