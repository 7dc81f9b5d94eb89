"""``sluice run --producers``, ``sluice emit --producer-key`` and ``sluice keys producer``:
bad producer files end in one line and exit 2; a made key pair authenticates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from sluice.cli.main import main
from sluice.errors import ConfigError
from sluice.producers import producers_from_data, read_producer_key
from tests.unit.producers.test_producers import SECRET_A, TOPIC, _entry


def test_run_exits_2_on_a_bad_producers_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "producers.yaml"
    bad.write_text(yaml.safe_dump({"producers": [_entry(secret=SECRET_A)]}))
    monkeypatch.setenv("SLUICE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLUICE_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["run", "--producers", str(bad), "--metrics-port", "0"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("sluice:")]
    assert len(err) == 1 and "inline 'secret' is refused" in err[0]
    assert SECRET_A not in err[0]


@pytest.mark.parametrize(
    "content",
    [
        "not: a key",
        "format: sluice.producer-key.v1\nkey_id: k\nalgorithm: rot13\n",
        "format: sluice.producer-key.v1\nkey_id: k\nalgorithm: hmac-sha256\nsecret: short\n",
        "format: sluice.producer-key.v1\nkey_id: k\nalgorithm: ed25519\nprivate_key: abc\n",
        "format: sluice.producer-key.v1\nkey_id: 'a b'\nalgorithm: hmac-sha256\n",
    ],
)
def test_bad_producer_key_file_is_one_line_exit_2(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError):
        read_producer_key(path)
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    assert main(["emit", "--producer-key", str(path), str(events)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("sluice:")]
    assert len(err) == 1 and "producer key file" in err[0]


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "ed25519"])
def test_keys_producer_makes_a_working_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str
) -> None:
    out = tmp_path / "agent.key"
    argv = ["keys", "producer", "--key-id", "agent-9", "--actor", "agent-9"]
    argv += ["--workflow", "wf-*", "--out", str(out), "--algorithm", algorithm]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    entry = yaml.safe_load(printed)
    assert (out.stat().st_mode & 0o777) == 0o600
    key_doc = yaml.safe_load(out.read_text())
    for secret_field in ("secret", "private_key"):
        if secret_field in key_doc:
            assert key_doc[secret_field] not in printed
    reg = producers_from_data({"producers": entry}, base_dir=tmp_path)
    signer = read_producer_key(out)
    pk = reg.authenticate(signer.headers(TOPIC, b"k", b"v"), TOPIC, b"k", b"v")
    assert pk.key_id == "agent-9" and pk.may_speak_for("Agent-9", "wf-1") is None
    if algorithm == "hmac-sha256":
        assert (Path(str(out) + ".secret").stat().st_mode & 0o777) == 0o600
    assert main(argv) == 2  # never overwrites a key
