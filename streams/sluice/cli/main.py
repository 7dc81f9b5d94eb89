"""Root of the ``sluice`` command line: verb groups, exit codes, one-line errors.

Exit codes: 0 success, 1 the command ran and found a problem (a broken audit chain,
a failing policy case), 2 bad input or configuration (one line on stderr).
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from sluice.errors import SluiceError

__all__ = ["app", "main"]

app = typer.Typer(
    name="sluice",
    help="Security gate for AI workflow events on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
    "keys",
    "producer_keys",
    "audit",
    "trace",
    "bench",
    "chaos",
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        # Without standalone mode click *returns* the code of a typer.Exit raised in a
        # command instead of raising it.
        rv = app(args=argv, standalone_mode=False)
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
    except Exception as exc:  # click usage errors and the like
        # Typer vendors its own click (typer._click): match ClickException by shape.
        show = getattr(exc, "show", None)
        if callable(show) and type(exc).__name__ in _CLICK_ERRORS:
            show()
            return 2
        raise
    return 0
