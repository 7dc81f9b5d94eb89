"""Root of the ``sluice`` command line: verb groups, exit codes, one-line errors.

Exit codes: 0 success, 1 the command ran and found a problem (a broken audit chain,
a failing policy case), 2 bad input or configuration (one line on stderr).

``sluice --version`` names the installed distribution's version;
``sluice --install-completion`` / ``--show-completion [SHELL]`` are Typer's shell
completion (bash, zsh, fish, PowerShell).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from sluice.errors import SluiceError

__all__ = ["DISTRIBUTION", "app", "main", "version_string"]

app = typer.Typer(
    name="sluice",
    help="Security gate for AI workflow events on Kafka.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

#: The distribution name in pyproject.toml ``[project] name``.
DISTRIBUTION = "sluice-gate"


def version_string() -> str:
    """``sluice <version>`` of the installed distribution (the package's own version
    when it runs from a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"sluice {version(DISTRIBUTION)}"
    except PackageNotFoundError:
        from sluice import __version__

        return f"sluice {__version__}"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_string())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_show_version,
        help="Print the sluice version and exit.",
    ),
) -> None:
    """Security gate for AI workflow events on Kafka."""


#: Verb modules; each defines ``register(app)``. Heavy imports stay inside commands.
VERB_MODULES = (
    "dev",
    "topics",
    "run",
    "emit",
    "tail",
    "scan",
    "policy",
    "review",
    "quarantine",
    "keys",
    "producer_keys",
    "audit",
    "trace",
    "bench",
    "chaos",
    "console",
    "notify",
)

for _name in VERB_MODULES:
    importlib.import_module(f"sluice.cli.{_name}").register(app)


#: Click's usage-error classes (whichever click the installed typer uses).
_CLICK_ERRORS = frozenset(
    {
        "ClickException",
        "UsageError",
        "BadParameter",
        "MissingParameter",
        "NoSuchOption",
        "BadOptionUsage",
        "BadArgumentUsage",
        "FileError",
    }
)


#: Typer's switch from shell detection to a named shell (read per invocation).
_NO_DETECTION = "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"
#: Shells Typer writes completion scripts for.
_SHELLS = frozenset({"bash", "zsh", "fish", "powershell", "pwsh"})


def _name_completion_shell(argv: list[str]) -> bool:
    """Let ``--show-completion SHELL`` / ``--install-completion SHELL`` name the shell.

    With shellingham installed Typer makes both options plain flags and guesses the
    shell from the process tree, which fails (or guesses wrong) in a container or a
    CI step without a shell ancestor. Typer reads this switch each time it builds the
    command; with it the options take the shell's name, as docs/getting-started.md shows.
    """
    for i, arg in enumerate(argv[:-1]):
        if arg in ("--show-completion", "--install-completion") and argv[i + 1] in _SHELLS:
            os.environ[_NO_DETECTION] = "1"
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    named_shell = _name_completion_shell(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode click *returns* the code of a typer.Exit raised in a
        # command instead of raising it.
        rv = app(args=argv, prog_name="sluice", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except SluiceError as exc:
        print(f"sluice: error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        print("sluice: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # Typer's completion options exit from their callbacks
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except Exception as exc:  # click usage errors and the like
        # Typer vendors its own click (typer._click): match ClickException by shape.
        show = getattr(exc, "show", None)
        if callable(show) and type(exc).__name__ in _CLICK_ERRORS:
            show()
            return 2
        raise
    finally:
        if named_shell:
            os.environ.pop(_NO_DETECTION, None)
    return 0
