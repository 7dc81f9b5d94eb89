"""The audit and trace verbs' offline parts: keygen, help, bad input (exit 2)."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from sluice.audit.heads import load_expected_heads
from sluice.audit.keys import CheckpointSigner
from sluice.cli.main import main
from sluice.errors import ConfigError


def test_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "svc.key"
    assert main(["audit", "keygen", "--out", str(out), "--json"]) == 0
    info = orjson.loads(capsys.readouterr().out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert CheckpointSigner.from_file(out).key_id == info["key_id"]
    assert Path(info["public_key_file"]).exists()
    assert "PRIVATE" not in orjson.dumps(info).decode()
    assert main(["audit", "keygen", "--out", str(out)]) == 2  # refuses to overwrite


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "verify", "--help"],
        ["audit", "export", "--help"],
        ["audit", "keygen", "--help"],
        ["trace", "--help"],
    ],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "Usage" in capsys.readouterr().out


def test_usage_errors_exit_2() -> None:
    assert main(["audit", "verify", "--no-such-flag"]) == 2
    assert main(["audit", "export", "--since", "whenever"]) == 2
    assert main(["audit", "export", "--format", "csv"]) == 2


def test_expected_heads_file_forms(tmp_path: Path) -> None:
    p = tmp_path / "h.json"
    p.write_text('{"heads": {"intake:0": {"seq": 3, "hash": "' + "ab" * 32 + '"}}}')
    assert load_expected_heads(p)["intake:0"].seq == 3
    p.write_text('{"gate:1": "sluice-audit/1:9:' + "cd" * 32 + '"}')
    assert load_expected_heads(p)["gate:1"].seq == 9
    for bad in ('{"intake:0": {"seq": "3"}}', "[1]", "nope"):
        p.write_text(bad)
        with pytest.raises(ConfigError):
            load_expected_heads(p)


def test_keygen_if_missing_keeps_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the compose init step runs on every start: the first run creates the key,
    later runs keep it (a new key would orphan the signatures already written)."""
    out = tmp_path / "audit.key"
    argv = ["audit", "keygen", "--out", str(out), "--if-missing", "--json"]
    assert main(argv) == 0
    first = orjson.loads(capsys.readouterr().out)["key_id"]
    before = out.read_bytes()
    Path(str(out) + ".pub").unlink()
    assert main(argv) == 0
    assert orjson.loads(capsys.readouterr().out)["key_id"] == first
    assert out.read_bytes() == before and Path(str(out) + ".pub").exists()
    out.write_text("not a key")
    assert main(argv) == 2  # a damaged key file is an error, never silently replaced
    assert main([*argv, "--force"]) == 2
