"""Canonical signing bytes, Ed25519 sign/verify, and private key files."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sluice.codec import default_codec
from sluice.errors import ConfigError
from sluice.gate.signatures import (
    DECISION_FIELDS,
    KEY_FILE_FORMAT,
    canonical_bytes,
    public_key_from_b64,
    public_key_to_b64,
    read_private_key,
    sign_decision,
    verify_decision,
    write_private_key,
)

# A synthetic, obviously fake key: bytes 0..31.
FIXED_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def decision(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "decision_id": "6f1c2a7e-3b9d-4e0a-9c55-1d2e3f405162",
        "event_id": "0b7a4c1e-9f2d-4a6b-8c3e-5d7f9a1b2c3d",
        "verdict": "APPROVE",
        "reviewer_id": "alice",
        "reason": "ok",
        "decided_at": 1790000000000,
        "key_id": "alice-2026-11",
        "content_hash": "ab" * 32,
        "signature": b"",
    }
    d.update(over)
    return d


def test_canonical_bytes_vector() -> None:
    # Written out by hand from the documented format, not from the code.
    expected = (
        b"sluice.decision.v1\n"
        b"\x00\x00\x00\x246f1c2a7e-3b9d-4e0a-9c55-1d2e3f405162"
        b"\x00\x00\x00\x240b7a4c1e-9f2d-4a6b-8c3e-5d7f9a1b2c3d"
        b"\x00\x00\x00\x07APPROVE"
        b"\x00\x00\x00\x05alice"
        b"\x00\x00\x00\x02ok"
        b"\x00\x00\x00\x0d1790000000000"
        b"\x00\x00\x00\x0dalice-2026-11"
        b"\x00\x00\x00\x40" + b"ab" * 32
    )
    assert canonical_bytes(decision()) == expected


def test_signature_vector_is_stable() -> None:
    # Ed25519 is deterministic: pin the signature so other implementations can check theirs.
    d = decision()
    sig = sign_decision(d, FIXED_KEY)
    assert sig.hex() == (
        "9b51cdc215f77c32d8ca92cddd08816b0f2be87edc0da058d57cbcd246ade777"
        "efb4b6cc2bd444274b119b795adf4c1c4f55102f970deab70d7ded874d3dd105"
    )
    assert d["signature"] == sig
    assert public_key_to_b64(FIXED_KEY.public_key()) == (
        "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    )


def test_signature_field_is_not_signed_and_non_ascii_is_utf8() -> None:
    assert canonical_bytes(decision(signature=b"x" * 64)) == canonical_bytes(decision())
    assert "é".encode() in canonical_bytes(decision(reason="café"))
    assert b"\x00\x00\x00\x05caf\xc3\xa9" in canonical_bytes(decision(reason="café"))


def test_round_trip_through_avro() -> None:
    key = Ed25519PrivateKey.generate()
    d = decision()
    sign_decision(d, key)
    wire = default_codec().encode("Decision", d)
    back = default_codec().decode("Decision", wire)
    assert verify_decision(back, key.public_key())


@pytest.mark.parametrize("name", DECISION_FIELDS)
def test_tampering_any_field_breaks_verification(name: str) -> None:
    d = decision()
    sign_decision(d, FIXED_KEY)
    assert verify_decision(d, FIXED_KEY.public_key())
    tampered = dict(d)
    if name == "decided_at":
        tampered[name] = d[name] + 1
    elif name == "verdict":
        tampered[name] = "REJECT"
    else:
        tampered[name] = d[name] + "x"
    assert not verify_decision(tampered, FIXED_KEY.public_key())


def test_field_boundaries_are_unambiguous() -> None:
    # Moving a character from one field to its neighbour must change the signed bytes.
    a = decision(reviewer_id="alice", reason="xok")
    b = decision(reviewer_id="alicex", reason="ok")
    assert canonical_bytes(a) != canonical_bytes(b)
    sign_decision(a, FIXED_KEY)
    b["signature"] = a["signature"]
    assert not verify_decision(b, FIXED_KEY.public_key())


def test_wrong_key_and_bad_signatures_fail() -> None:
    d = decision()
    sign_decision(d, FIXED_KEY)
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_decision(d, other)
    flipped = bytearray(d["signature"])
    flipped[0] ^= 1
    assert not verify_decision({**d, "signature": bytes(flipped)}, FIXED_KEY.public_key())
    assert not verify_decision({**d, "signature": d["signature"][:63]}, FIXED_KEY.public_key())
    assert not verify_decision({**d, "signature": d["signature"].hex()}, FIXED_KEY.public_key())


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"signature": b"\x00" * 64},
        decision(decided_at="1790000000000", signature=b"\x00" * 64),
        decision(decided_at=True, signature=b"\x00" * 64),
        decision(reviewer_id=None, signature=b"\x00" * 64),
        decision(reason="\ud800", signature=b"\x00" * 64),  # lone surrogate
    ],
)
def test_verify_never_raises_on_malformed_input(bad: dict[str, Any]) -> None:
    assert verify_decision(bad, FIXED_KEY.public_key()) is False


def test_verify_rejects_non_mapping_input() -> None:
    assert verify_decision(None, FIXED_KEY.public_key()) is False  # type: ignore[arg-type]


def test_canonical_bytes_names_the_bad_field() -> None:
    d = decision()
    del d["key_id"]
    with pytest.raises(ValueError, match="key_id"):
        canonical_bytes(d)
    with pytest.raises(ValueError, match="decided_at"):
        canonical_bytes(decision(decided_at=1.5))


_text = st.text(max_size=40)


@given(
    st.fixed_dictionaries(
        {
            "decision_id": _text,
            "event_id": _text,
            "verdict": st.sampled_from(["APPROVE", "REJECT"]),
            "reviewer_id": _text,
            "reason": _text,
            "decided_at": st.integers(min_value=-(2**63), max_value=2**63 - 1),
            "key_id": _text,
            "content_hash": _text,
        }
    ),
    st.sampled_from(DECISION_FIELDS),
)
def test_property_sign_verify_and_any_change_breaks(d: dict[str, Any], name: str) -> None:
    try:
        canonical_bytes(d)
    except ValueError:
        return  # unencodable text (lone surrogates) is refused, never signed
    sign_decision(d, FIXED_KEY)
    assert verify_decision(d, FIXED_KEY.public_key())
    changed = dict(d)
    changed[name] = d[name] + 1 if name == "decided_at" else d[name] + "\x00"
    assert canonical_bytes(changed) != canonical_bytes(d)
    assert not verify_decision(changed, FIXED_KEY.public_key())


# -- public key text ---------------------------------------------------------------


def test_public_key_b64_round_trip_and_errors() -> None:
    pub = Ed25519PrivateKey.generate().public_key()
    text = public_key_to_b64(pub)
    assert len(base64.b64decode(text)) == 32
    assert public_key_to_b64(public_key_from_b64(text)) == text
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_from_b64(base64.b64encode(b"\x01" * 31).decode())
    with pytest.raises(ValueError, match="base64"):
        public_key_from_b64("not base64!!")
    with pytest.raises(ValueError, match="base64"):
        public_key_from_b64(None)


# -- private key files -------------------------------------------------------------


def test_key_file_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "alice.key"
    key = Ed25519PrivateKey.generate()
    old = os.umask(0)  # even a permissive umask must not widen the file
    try:
        write_private_key(path, "alice", "alice-2026-11", key)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert f"format: {KEY_FILE_FORMAT}" in text
    loaded = read_private_key(path)
    assert (loaded.reviewer_id, loaded.key_id) == ("alice", "alice-2026-11")
    d = decision()
    sign_decision(d, loaded.private_key)
    assert verify_decision(d, key.public_key())
    assert "private_key=" not in repr(loaded)
    assert "alice-2026-11" in repr(loaded)


def test_key_file_refuses_overwrite_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "alice.key"
    first = Ed25519PrivateKey.generate()
    write_private_key(path, "alice", "k1", first)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        write_private_key(path, "alice", "k2", Ed25519PrivateKey.generate())
    assert path.read_bytes() == before
    path.chmod(0o644)
    write_private_key(path, "alice", "k2", Ed25519PrivateKey.generate(), force=True)
    assert read_private_key(path).key_id == "k2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.key"]  # no temp left


def test_key_file_keeps_odd_ids_exact(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private_key(path, 'bob: "x" #1', "yes", Ed25519PrivateKey.generate())
    loaded = read_private_key(path)
    assert (loaded.reviewer_id, loaded.key_id) == ('bob: "x" #1', "yes")


def test_key_file_rejects_multiline_ids(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reviewer id"):
        write_private_key(tmp_path / "k", "a\nb", "k1", Ed25519PrivateKey.generate())
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("reviewers: []\n", "not a sluice key file"),
        ("{{{\n", "not valid YAML"),
        (f"format: {KEY_FILE_FORMAT}\nkey_id: k\nprivate_key: AAAA\n", "reviewer_id"),
        (f"format: {KEY_FILE_FORMAT}\nreviewer_id: a\nkey_id: k\n", "private_key"),
        (f"format: {KEY_FILE_FORMAT}\nreviewer_id: a\nkey_id: k\nprivate_key: AAAA\n", "32 bytes"),
    ],
)
def test_bad_key_files_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        read_private_key(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_key_errors_never_echo_key_material(tmp_path: Path) -> None:
    material = base64.b64encode(b"\x07" * 33).decode()  # wrong length, looks like a key
    path = tmp_path / "bad.key"
    path.write_text(
        f"format: {KEY_FILE_FORMAT}\nreviewer_id: a\nkey_id: k\nprivate_key: {material}\n"
    )
    with pytest.raises(ConfigError) as info:
        read_private_key(path)
    assert material not in str(info.value)
    assert material[:12] not in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read key file"):
        read_private_key(tmp_path / "nope")
