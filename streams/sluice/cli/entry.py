"""The ``sluice`` console script: the command line, or a one-line hint on a light install.

``pip install sluice-gate`` installs the producer side only (the Emitter and the event
model); the command line and the worker come with ``pip install 'sluice-gate[worker]'``.
Without the extra, every verb fails with one line naming that command instead of a
traceback about a missing module.
"""

from __future__ import annotations

import sys

__all__ = ["WORKER_EXTRA", "WORKER_MODULES", "main"]

#: What to install for the command line and the worker.
WORKER_EXTRA = "pip install 'sluice-gate[worker]'"

#: Top-level import names of the ``worker`` extra's distributions (pyproject.toml).
WORKER_MODULES = frozenset(
    {
        "aiohttp",
        "cel",
        "click",
        "faust",
        "nh3",
        "numpy",
        "phonenumbers",
        "prometheus_client",
        "re2",
        "stdnum",
        "typer",
        "uvloop",
        "yaml",
    }
)


def _missing_worker_module(exc: ModuleNotFoundError) -> bool:
    return (exc.name or "").split(".")[0] in WORKER_MODULES


def _hint(exc: ModuleNotFoundError) -> int:
    print(
        f"sluice: error: this is the light (producer) install; the command line and the "
        f"worker need the worker extra ({exc.name} is missing): {WORKER_EXTRA}",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; exit 2 with an install hint when the worker extra is missing."""
    try:
        from sluice.cli.main import main as cli_main
    except ModuleNotFoundError as exc:
        if not _missing_worker_module(exc):
            raise
        return _hint(exc)
    try:
        return cli_main(argv)
    except ModuleNotFoundError as exc:  # a verb's lazy import of a worker dependency
        if not _missing_worker_module(exc):
            raise
        return _hint(exc)
