"""The root command: ``--version`` and shell completion."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from sluice.cli.main import DISTRIBUTION, main


def test_version_prints_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sluice {version(DISTRIBUTION)}"


def test_show_completion_for_a_named_shell_without_a_tty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Under pytest stdin/stdout are not TTYs: naming the shell must be enough.
    assert main(["--show-completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert "_SLUICE_COMPLETE" in out
    assert "complete" in out


def test_show_completion_honours_the_named_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--show-completion", "zsh"]) == 0
    assert capsys.readouterr().out.startswith("#compdef sluice")


def test_help_still_lists_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--version" in out
    assert "audit" in out
