"""The reviewers registry: loading the SPEC §5 shape, and who signed a decision."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.errors import ConfigError
from sluice.gate.reviewers import KeyRefusal, Registry, load_registry, registry_from_data
from sluice.gate.signatures import public_key_to_b64, sign_decision

ALICE_OLD = Ed25519PrivateKey.generate()
ALICE_NEW = Ed25519PrivateKey.generate()
BOB = Ed25519PrivateKey.generate()


def registry_yaml() -> str:
    return f"""\
# as outside checks write it (SPEC §5), plus a field we do not know
reviewers:
  - id: alice
    roles: [security, finance]
    team: payments
    keys:
      - id: alice-2025-01
        public_key: "{public_key_to_b64(ALICE_OLD.public_key())}"
        revoked: true
      - id: alice-2026-11
        public_key: "{public_key_to_b64(ALICE_NEW.public_key())}"
        revoked: false
  - id: bob
    roles: [release-manager]
    keys:
      - id: bob-2026-11
        public_key: {public_key_to_b64(BOB.public_key())}
"""


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    path = tmp_path / "reviewers.yaml"
    path.write_text(registry_yaml())
    return load_registry(path)


def signed(key: Ed25519PrivateKey, reviewer: str, key_id: str, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "decision_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "verdict": "APPROVE",
        "reviewer_id": reviewer,
        "reason": "",
        "decided_at": 1_790_000_000_000,
        "key_id": key_id,
        "content_hash": "0" * 64,
    }
    sign_decision(d, key)
    d.update(over)
    return d


def test_loads_spec_shape(registry: Registry) -> None:
    assert len(registry) == 2
    alice = registry.reviewer("alice")
    assert alice is not None
    assert alice.roles == frozenset({"security", "finance"})
    assert set(alice.keys) == {"alice-2025-01", "alice-2026-11"}
    assert alice.keys["alice-2025-01"].revoked
    assert not alice.keys["alice-2026-11"].revoked
    bob = registry.reviewer("bob")
    assert bob is not None and not bob.keys["bob-2026-11"].revoked  # revoked defaults to false
    assert registry.reviewer("carol") is None
    assert len(registry.source_hash) == 64


def test_valid_decisions_pass(registry: Registry) -> None:
    assert registry.check(signed(ALICE_NEW, "alice", "alice-2026-11")) is None
    assert registry.check(signed(BOB, "bob", "bob-2026-11")) is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: signed(ALICE_NEW, "mallory", "alice-2026-11"), "unknown_reviewer"),
        (lambda: signed(ALICE_NEW, "alice", "alice-1999-01"), "unknown_key"),
        (lambda: signed(ALICE_OLD, "alice", "alice-2025-01"), "revoked_key"),
        # bob signs, claiming alice's key: the signature does not verify
        (lambda: signed(BOB, "alice", "alice-2026-11"), "bad_signature"),
        # alice's valid signature, then the verdict is flipped in transit
        (lambda: signed(ALICE_NEW, "alice", "alice-2026-11", verdict="REJECT"), "bad_signature"),
        # a valid signature moved to another event
        (
            lambda: signed(ALICE_NEW, "alice", "alice-2026-11", event_id=str(uuid.uuid4())),
            "bad_signature",
        ),
        (
            lambda: signed(ALICE_NEW, "alice", "alice-2026-11", signature=b"\x00" * 64),
            "bad_signature",
        ),
        (lambda: signed(ALICE_NEW, "alice", "alice-2026-11", signature="sig"), "malformed"),
        (lambda: signed(ALICE_NEW, "alice", "alice-2026-11", decided_at="now"), "malformed"),
        (lambda: signed(ALICE_NEW, "alice", "alice-2026-11", reason=None), "malformed"),
        (lambda: signed(ALICE_NEW, "alice", "alice-2026-11", signature=b"\x00" * 63), "malformed"),
        (lambda: signed(ALICE_NEW, "alice", "alice-2026-11", reviewer_id=None), "malformed"),
        (lambda: {"reviewer_id": "alice"}, "malformed"),
        (lambda: "not a mapping", "malformed"),
    ],
)
def test_refusals(registry: Registry, make: Any, reason: str) -> None:
    got = registry.check(make())
    assert got == reason
    assert got in set(KeyRefusal)


def test_refusal_reasons_are_a_bounded_set() -> None:
    assert {r.value for r in KeyRefusal} == {
        "unknown_reviewer",
        "unknown_key",
        "revoked_key",
        "bad_signature",
        "malformed",
    }


def _entry(**over: Any) -> dict[str, Any]:
    key: dict[str, Any] = {"id": "k1", "public_key": public_key_to_b64(BOB.public_key())}
    key.update(over.pop("key", {}))
    e: dict[str, Any] = {"id": "bob", "roles": ["security"], "keys": [key]}
    e.update(over)
    return e


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "'reviewers' list"),
        ({"reviewers": {"bob": {}}}, "'reviewers' list"),
        ({"reviewers": ["bob"]}, r"reviewers\[0\]: expected a mapping"),
        ({"reviewers": [_entry(id="")]}, r"reviewers\[0\]: id must be"),
        ({"reviewers": [_entry(), _entry()]}, r"reviewers\[1\]: duplicate reviewer id 'bob'"),
        ({"reviewers": [_entry(roles="security")]}, r"'bob'.*roles must be a list"),
        ({"reviewers": [_entry(roles=[1])]}, r"'bob'.*roles must be a list"),
        ({"reviewers": [_entry(keys={"k1": "x"})]}, r"'bob'.*keys must be a list"),
        ({"reviewers": [_entry(key={"id": None})]}, r"keys\[0\]: id must be"),
        (
            {"reviewers": [_entry(key={"public_key": "%%%"})]},
            r"keys\[0\] \(id 'k1'\): public key is not valid base64",
        ),
        (
            {"reviewers": [_entry(key={"public_key": base64.b64encode(b"1" * 16).decode()})]},
            r"'k1'.*32 bytes, got 16",
        ),
        ({"reviewers": [_entry(key={"public_key": None})]}, r"'k1'.*public key must be"),
        ({"reviewers": [_entry(key={"revoked": "no"})]}, r"'k1'.*revoked must be true or false"),
        (
            {"reviewers": [_entry(keys=[_entry()["keys"][0], _entry()["keys"][0]])]},
            r"'bob'.*duplicate key id 'k1'",
        ),
    ],
)
def test_bad_registries_name_the_entry(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        registry_from_data(data, source="reg.yaml")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("reg.yaml")


def test_empty_reviewers_list_is_allowed() -> None:
    assert len(registry_from_data({"reviewers": []})) == 0


def test_load_registry_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read reviewers registry"):
        load_registry(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("reviewers:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+\)"):
        load_registry(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "reviewers:\n  - id: bob\n    keys:\n      - id: k1\n        public_key: abc\n"
    )
    with pytest.raises(ConfigError, match=rf"{wrong}: reviewers\[0\] \(id 'bob'\): keys\[0\]"):
        load_registry(wrong)
