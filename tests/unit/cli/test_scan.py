"""``sluice scan``: one JSON object per input line, in order; bad input exits 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

AWS = "AKIA" + "ZXCVBNMASDFGHJKL"


def _main() -> Callable[[list[str]], int]:
    """The real CLI entry point."""
    from sluice.cli.main import main

    return main


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLUICE_FINGERPRINT_KEY", "cli-test-key")
    monkeypatch.setenv("SLUICE_DATA_DIR", str(tmp_path / "data"))


def test_scan_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text(
        "\n".join(
            [
                "nothing to see",
                f"creds {AWS} inside",
                json.dumps({"text": "<b onclick=x()>hi</b>", "as": "html"}),
                json.dumps({"text": "1 OR 1=1", "as": "sql"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert _main()(["scan", str(src), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(x) for x in lines]
    assert [r["line"] for r in records] == [1, 2, 3, 4]
    assert records[0]["findings"] == [] and records[0]["sanitized"] == "nothing to see"
    (secret,) = records[1]["findings"]
    assert secret["kind"] == "secret" and secret["detector"] == "aws_access_key"
    assert (secret["start"], secret["end"]) == (6, 26)
    assert AWS not in lines[1] and "[REDACTED:aws_access_key:" in records[1]["sanitized"]
    assert records[2]["sanitized"] == "<b>hi</b>"
    assert "tautology" in {f["detector"] for f in records[3]["findings"]}
    for r in records:
        for f in r["findings"]:
            assert {
                "kind",
                "detector",
                "field",
                "start",
                "end",
                "severity",
                "confidence",
                "fingerprint",
            } <= set(f)


def test_scan_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text(f"key {AWS}\n", encoding="utf-8")
    assert _main()(["scan", str(src)]) == 0
    out = capsys.readouterr().out
    assert "aws_access_key" in out and AWS not in out


def test_scan_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main()(["scan", str(tmp_path / "nope.txt"), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sluice: error: cannot read")


def test_scan_bad_treatment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x\n", encoding="utf-8")
    assert _main()(["scan", str(src), "--as", "xml"]) == 2
