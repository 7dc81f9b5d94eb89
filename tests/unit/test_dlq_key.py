"""A DLQ record's key (the source key) is redacted whether or not it is valid UTF-8."""

from __future__ import annotations

import time

import pytest

from sluice.codec import default_codec
from sluice.pipeline import Intake
from sluice.settings import load_settings
from sluice.worker import build_intake

NOW = time.time_ns() // 1_000_000
SOURCE = ("workflow.events", 0, 7)
# Secret-looking values built by concatenation: no scanner bait in the repository.
AWS = "AKIA" + "QWERTYUIOP" + "ASDFGH"
GITHUB = "ghp_" + "Zx9" * 12


@pytest.fixture(scope="module")
def intake() -> Intake:
    built, _ = build_intake(load_settings(fingerprint_key="dlq-" + "key", data_dir="/nonexistent"))
    return built


def dead_key(intake: Intake, key: bytes) -> bytes | None:
    r = intake.process(b"\xc3\x01not an event", key, SOURCE, NOW, NOW)
    assert r.outcome == "invalid" and r.topic.endswith("dlq")
    return r.key


@pytest.mark.parametrize("secret", [AWS, GITHUB])
@pytest.mark.parametrize(
    "raw",
    [
        lambda s: s.encode(),  # valid UTF-8 (was already redacted)
        lambda s: b"\xff" + s.encode(),  # invalid UTF-8 before the secret
        lambda s: s.encode() + b"\xfe\xff",  # after it
        lambda s: b"run-\x80\x81-" + s.encode() + b"-\xc0",  # around it
        lambda s: ("réunion-" + s).encode("latin-1"),  # latin-1 text key
        lambda s: ("Größe ü " + s + " ÿ").encode("latin-1"),
    ],
    ids=["utf8", "ff-prefix", "suffix", "around", "latin1", "latin1-words"],
)
def test_secret_in_key_never_reaches_the_dlq(intake: Intake, secret: str, raw: object) -> None:
    key = raw(secret)  # type: ignore[operator]
    out = dead_key(intake, key)
    assert out is not None
    assert secret.encode() not in out
    assert secret[4:].encode() not in out  # not even the secret's body
    # What is left is text an operator can read: the redaction placeholder and the rest.
    text = out.decode("utf-8")
    assert "REDACTED" in text
    assert "\ufffd" not in text


def test_latin1_key_keeps_its_readable_part(intake: Intake) -> None:
    out = dead_key(intake, ("réunion-" + AWS).encode("latin-1"))
    assert out is not None and out.startswith(b"r?union-")


@pytest.mark.parametrize("key", [b"run-42", "run-é".encode(), b"\x00\x01\xff-binary"])
def test_keys_without_secrets(intake: Intake, key: bytes) -> None:
    out = dead_key(intake, key)
    if key == b"\x00\x01\xff-binary":
        # Not UTF-8 and with controls: comes out as clean text (controls dropped, "?").
        assert out is not None and out.endswith(b"?-binary") and b"\x00" not in out
    else:
        assert out == key  # ordinary keys are untouched (same partitioning)


def test_decoded_value_carries_no_secret_either(intake: Intake) -> None:
    r = intake.process(b"\xc3\x01not an event", b"\xff" + AWS.encode(), SOURCE, NOW, NOW)
    _, dead = default_codec().decode_any(r.value)
    assert AWS not in repr(dead)
