"""The progress line: drawn on a terminal, silent otherwise and with --json."""

from __future__ import annotations

import io

import pytest

from sluice.cli.main import main
from sluice.cli.progress import Progress, progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_on_a_tty_one_line_is_rewritten_in_place() -> None:
    out, clock = FakeTTY(), Clock()
    with Progress("verifying workflow.audit", stream=out, clock=clock, interval_s=0.2) as p:
        p(500)
        assert out.getvalue() == ""  # not due yet
        clock.t += 1.0
        p(1500)
        clock.t += 0.05
        p(10)  # within the interval: no redraw
        clock.t += 1.0
        p(1)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "\n" not in text[:-1]
    first = text.split("\r")[1]
    assert first.startswith("verifying workflow.audit: 2,000 records")
    assert "2,000/s" in first and "1.0s" in first
    assert "2,011 records" in text.split("\r")[-1]


def test_not_a_tty_writes_nothing() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress("x", stream=out, clock=clock) as p:
        clock.t += 5
        p(10_000)
    assert out.getvalue() == ""


def test_json_writes_nothing_even_on_a_tty() -> None:
    out, clock = FakeTTY(), Clock()
    p = progress("x", json_out=True, stream=out)
    clock.t += 5
    p(10_000)
    p.close()
    assert out.getvalue() == "" and p.count == 10_000


def test_default_stream_is_stderr_and_off_under_capture(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress("x") as p:
        p(5)
    assert not p.enabled
    assert capsys.readouterr().err == ""


def test_audit_verify_state_flags_need_their_partners(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    assert main(["audit", "verify", "--since-checkpoint"]) == 2
    assert "--state" in capsys.readouterr().err
