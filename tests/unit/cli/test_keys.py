"""``sluice keys new``: the key file it writes and the registry entry it prints."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
import yaml

from sluice.cli.main import main
from sluice.gate.reviewers import registry_from_data
from sluice.gate.signatures import read_private_key, registry_entry, sign_decision


def run(argv: list[str]) -> int:
    """``sluice`` with ``argv``: its exit code (2 with one line on stderr for bad input)."""
    return main(argv)


def test_new_writes_key_and_prints_a_registry_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alice.key"
    assert run(["keys", "new", "--reviewer", "alice", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key_file = read_private_key(out)
    expected_id = f"alice-{dt.datetime.now(dt.UTC):%Y-%m}"
    assert (key_file.reviewer_id, key_file.key_id) == ("alice", expected_id)

    # The printed entry drops straight into a registry (SPEC §5 shape) and matches the key.
    entry = yaml.safe_load(captured.out)
    assert entry[0]["id"] == "alice"
    assert entry[0]["roles"] == []
    assert "TODO" in captured.out  # roles placeholder
    assert entry[0]["keys"] == [
        {"id": expected_id, "public_key": entry[0]["keys"][0]["public_key"], "revoked": False}
    ]
    registry = registry_from_data({"reviewers": entry})
    decision = {
        "decision_id": "d",
        "event_id": "e",
        "verdict": "APPROVE",
        "reviewer_id": "alice",
        "reason": "",
        "decided_at": 1,
        "key_id": expected_id,
        "content_hash": "h",
    }
    sign_decision(decision, key_file.private_key)
    assert registry.check(decision) is None
    # The private key never reaches the terminal.
    private_b64 = yaml.safe_load(out.read_text())["private_key"]
    assert private_b64 not in captured.out + captured.err
    assert str(out) in captured.err


def test_new_with_key_id_roles_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bob.key"
    argv = ["keys", "new", "--reviewer", "bob", "--out", str(out), "--key-id", "bob-a"]
    assert run([*argv, "--role", "security", "--role", "finance", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry["id"] == "bob" and entry["roles"] == ["security", "finance"]
    assert entry["keys"][0]["id"] == "bob-a"
    assert read_private_key(out).key_id == "bob-a"
    assert registry_from_data({"reviewers": [entry]}).reviewer("bob") is not None


def test_new_refuses_to_overwrite_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alice.key"
    assert run(["keys", "new", "--reviewer", "alice", "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert run(["keys", "new", "--reviewer", "alice", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--force" in err
    assert out.read_bytes() == before
    assert run(["keys", "new", "--reviewer", "alice", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != before
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_new_rejects_empty_reviewer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["keys", "new", "--reviewer", " ", "--out", str(tmp_path / "k")]) == 2
    assert "--reviewer" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_registry_entry_quotes_odd_ids() -> None:
    text = registry_entry('we: "ird"', "k#1", "QUJD", ["a: b"])
    assert yaml.safe_load(text) == [
        {
            "id": 'we: "ird"',
            "roles": ["a: b"],
            "keys": [{"id": "k#1", "public_key": "QUJD", "revoked": False}],
        }
    ]


def test_new_creates_missing_parent_directories_0700(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README walkthrough writes keys/alice.key on a machine without keys/.
    out = tmp_path / "fresh" / "keys" / "alice.key"
    assert run(["keys", "new", "--reviewer", "alice", "--out", str(out)]) == 0
    capsys.readouterr()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    for d in (tmp_path / "fresh", tmp_path / "fresh" / "keys"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_new_under_a_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run(["keys", "new", "--reviewer", "alice", "--out", str(blocker / "k" / "a.key")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sluice: error:")
