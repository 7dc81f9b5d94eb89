"""The reviewers registry: loading the SPEC §5 shape, and who signed a decision."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.errors import ConfigError
from sluice.gate.reviewers import (
    KeyRefusal,
    Registry,
    RegistryFile,
    load_registry,
    registry_from_data,
)
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


# -- identities: ids compare folded, a key belongs to one reviewer once -------------------

CAROL = Ed25519PrivateKey.generate()


def _reviewer(rid: str, key: Ed25519PrivateKey, key_id: str = "k1") -> dict[str, Any]:
    return {
        "id": rid,
        "roles": ["security"],
        "keys": [{"id": key_id, "public_key": public_key_to_b64(key.public_key())}],
    }


@pytest.mark.parametrize(
    "twin",
    [
        "Alice",  # case
        "ALICE ",  # case and trailing space
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
        "al\u200bice",  # zero-width space inside
        "\u2060alice\ufe0f",  # word joiner, variation selector
    ],
)
def test_reviewer_ids_that_fold_alike_are_refused(twin: str) -> None:
    data = {"reviewers": [_reviewer("alice", ALICE_NEW), _reviewer(twin, BOB)]}
    with pytest.raises(ConfigError, match=r"reviewers\[1\]: duplicate reviewer id") as info:
        registry_from_data(data, source="reg.yaml")
    message = str(info.value)
    assert "\n" not in message and "same as 'alice'" in message
    # Built directly (not from a file), the registry refuses them too.
    alice = registry_from_data({"reviewers": [_reviewer("alice", ALICE_NEW)]}).reviewer("alice")
    other = registry_from_data({"reviewers": [_reviewer(twin, BOB)]}).reviewer(twin)
    assert alice is not None and other is not None and other.id == twin
    with pytest.raises(ConfigError, match="same id"):
        Registry([alice, other])


def test_one_key_under_two_reviewers_is_refused() -> None:
    data = {"reviewers": [_reviewer("alice", ALICE_NEW), _reviewer("alice-admin", ALICE_NEW)]}
    with pytest.raises(ConfigError, match="one public key is listed as") as info:
        registry_from_data(data, source="reg.yaml")
    message = str(info.value)
    assert message.startswith("reg.yaml") and "\n" not in message
    assert "'alice' key 'k1'" in message and "'alice-admin' key 'k1'" in message
    assert public_key_to_b64(ALICE_NEW.public_key()) not in message  # names entries, not keys


def test_one_key_twice_under_one_reviewer_is_refused() -> None:
    entry = _reviewer("alice", ALICE_NEW)
    entry["keys"].append({"id": "k2", "public_key": public_key_to_b64(ALICE_NEW.public_key())})
    with pytest.raises(ConfigError, match="'alice' key 'k1' and as 'alice' key 'k2'"):
        registry_from_data({"reviewers": [entry]}, source="reg.yaml")


def test_a_revoked_copy_of_a_key_is_still_a_second_listing() -> None:
    # Revoked or not, a second listing is a configuration mistake worth stopping on.
    second = _reviewer("alice-admin", ALICE_NEW)
    second["keys"][0]["revoked"] = True
    with pytest.raises(ConfigError, match="one public key"):
        registry_from_data({"reviewers": [_reviewer("alice", ALICE_NEW), second]})


def test_lookup_is_by_folded_id(registry: Registry) -> None:
    for spelling in ("alice", "Alice", "\uff21\uff4c\uff49\uff43\uff45", "ali\u200dce", " alice"):
        reviewer = registry.reviewer(spelling)
        assert reviewer is not None and reviewer.id == "alice", spelling
        assert registry.canonical_id(spelling) == "alice"
    assert registry.reviewer("alicia") is None and registry.canonical_id("alicia") is None


@pytest.mark.parametrize(
    "spelling", ["ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45", "ali\u200bce", "alice "]
)
def test_one_reviewer_cannot_vote_twice_under_two_spellings(
    registry: Registry, spelling: str
) -> None:
    # alice signs one approval as "alice" and another under a spelling that folds to it:
    # were both accepted, a gate telling voters apart by spelling would count two votes.
    assert registry.check(signed(ALICE_NEW, "alice", "alice-2026-11")) is None
    assert registry.check(signed(ALICE_NEW, spelling, "alice-2026-11")) == "unknown_reviewer"
    assert registry.canonical_id(spelling) == "alice"  # who it is, for comparisons


def test_key_live(registry: Registry) -> None:
    assert registry.key_live("alice", "alice-2026-11")
    assert registry.key_live("\uff41lice", "alice-2026-11")  # folded reviewer id
    assert not registry.key_live("alice", "alice-2025-01")  # revoked
    assert not registry.key_live("alice", "bob-2026-11")  # bob's key, not alice's
    assert not registry.key_live("mallory", "alice-2026-11")  # unknown reviewer
    assert not registry.key_live("alice", "ALICE-2026-11")  # key ids are exact
    assert registry.key_count == 3 and registry.live_key_count == 2


# -- reload: a changed file is checked in full before it replaces the registry ---------


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def test_registry_file_reloads_a_revocation(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.yaml"
    _write(path, registry_yaml())
    watched = RegistryFile(path)
    old = watched.current
    assert watched.poll() is None  # unchanged
    vote = signed(BOB, "bob", "bob-2026-11")
    assert old.check(vote) is None

    revoked = registry_yaml().replace(
        f"public_key: {public_key_to_b64(BOB.public_key())}",
        f"public_key: {public_key_to_b64(BOB.public_key())}\n        revoked: true",
    )
    _write(path, revoked)
    assert watched.poll() is None  # changed: read once it holds still for one more poll
    got = watched.poll()
    assert got is not None and got.error is None and got.registry is watched.current
    assert got.registry is not old and got.file_hash == got.registry.source_hash
    assert got.registry.check(vote) == "revoked_key"
    assert not got.registry.key_live("bob", "bob-2026-11")
    assert old.check(vote) is None  # the old object is untouched (swapped, not mutated)
    assert watched.poll() is None


def test_registry_file_waits_while_the_file_keeps_changing(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.yaml"
    _write(path, registry_yaml())
    watched = RegistryFile(path)
    old = watched.current
    full = registry_yaml().replace("team: payments", "team: risk")
    # A slow writer: every poll sees another size; nothing half-written is read.
    for cut in (10, 60, 200):
        _write(path, full[:cut])
        assert watched.poll() is None
        assert watched.current is old
    _write(path, full)
    assert watched.poll() is None
    got = watched.poll()
    assert got is not None and got.registry is not None and got.error is None


@pytest.mark.parametrize(
    "bad",
    [
        "reviewers:\n  - id: [unclosed\n",  # not YAML
        "reviewers: {}\n",  # wrong shape
        "reviewers:\n  - id: bob\n    keys:\n      - id: k1\n        public_key: abc\n",
        # a collision introduced by the edit
        "__SAME__\n  - id: BOB\n    roles: [security]\n",
        # the same key under a second reviewer
        "__SAME__\n  - id: bob-admin\n    roles: [security]\n    keys:\n      - id: x\n"
        "        public_key: __BOB__\n",
    ],
)
def test_registry_file_keeps_the_old_registry_on_a_bad_file(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "reviewers.yaml"
    _write(path, registry_yaml())
    watched = RegistryFile(path)
    old = watched.current
    text = bad.replace("__SAME__", registry_yaml().rstrip("\n")).replace(
        "__BOB__", public_key_to_b64(BOB.public_key())
    )
    _write(path, text)
    assert watched.poll() is None
    got = watched.poll()
    assert got is not None and got.registry is None and got.error
    assert "\n" not in got.error and str(path) in got.error
    assert len(got.file_hash) == 64
    assert watched.current is old
    assert watched.poll() is None  # the same bad content is reported once
    assert watched.poll(force=True) is not None  # unless asked again (SIGHUP)
    # Fixed: the next good content is taken.
    _write(path, registry_yaml().replace("team: payments", "team: risk"))
    assert watched.poll() is None
    got = watched.poll()
    assert got is not None and got.registry is not None and watched.current is got.registry


def test_registry_file_missing_keeps_the_old_registry(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.yaml"
    _write(path, registry_yaml())
    watched = RegistryFile(path)
    old = watched.current
    path.unlink()
    assert watched.poll() is None
    got = watched.poll()
    assert got is not None and got.registry is None and "cannot read" in (got.error or "")
    assert watched.poll() is None and watched.current is old
    _write(path, registry_yaml())
    # Same content back: nothing to reload.
    assert watched.poll() is None and watched.poll() is None and watched.current is old


def test_registry_file_force_reads_at_once(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.yaml"
    _write(path, registry_yaml())
    watched = RegistryFile(path)
    _write(path, registry_yaml().replace("team: payments", "team: x"))
    got = watched.poll(force=True)  # SIGHUP: the operator says it is done
    assert got is not None and got.registry is not None
    assert watched.poll() is None and watched.poll() is None
