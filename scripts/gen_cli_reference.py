"""Render ``sluice <verb> --help`` for every verb and subcommand into ``docs/cli.md``.

Walks the click command tree Typer builds from ``sluice.cli.main.app`` and captures each
command's help in-process, at a fixed width (100 columns) and without colours, so the
file only changes when a command's help changes. ``tests/unit/cli/test_cli_reference.py``
regenerates it in memory and compares.

Usage::

    PYTHONPATH=streams python scripts/gen_cli_reference.py           # write docs/cli.md
    PYTHONPATH=streams python scripts/gen_cli_reference.py --check   # exit 1 if stale

Exit codes: 0 written (or up to date), 1 ``--check`` found it stale.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["OUT", "WIDTH", "commands", "main", "render"]

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"
#: Terminal width the help is rendered at (rich wraps to it).
WIDTH = 100

# Before typer/rich are imported: fixed width, no colours, not a terminal.
os.environ["COLUMNS"] = str(WIDTH)
os.environ["TERMINAL_WIDTH"] = str(WIDTH)
os.environ["NO_COLOR"] = "1"
os.environ.pop("FORCE_COLOR", None)

HEADER = f"""# CLI reference

Generated from `sluice <verb> --help` by
[`scripts/gen_cli_reference.py`](../scripts/gen_cli_reference.py) at {WIDTH} columns; do
not edit by hand. After changing a command's help, regenerate it with

```bash
PYTHONPATH=streams python scripts/gen_cli_reference.py
```

(`tests/unit/cli/test_cli_reference.py` fails while this file is stale.) Exit codes of
every verb: 0 success, 1 the command ran and found a problem (a broken audit chain, a
failing policy case), 2 bad input or configuration (one line on stderr).
"""


@contextlib.contextmanager
def _pinned_rich() -> Iterator[None]:
    """Fix typer's rich console settings (even if typer was imported before us), and put
    them back afterwards so that a test session's other help output is unaffected."""
    from typer import rich_utils

    pinned = {"MAX_WIDTH": WIDTH, "COLOR_SYSTEM": None, "FORCE_TERMINAL": False}
    saved = {name: getattr(rich_utils, name) for name in pinned}
    for name, value in pinned.items():
        setattr(rich_utils, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(rich_utils, name, value)


def commands() -> Iterator[tuple[list[str], Any, Any]]:
    """``(path, command, context)`` for the root and every (sub)command, depth first,
    in registration order."""
    import typer.main

    from sluice.cli.main import app

    root = typer.main.get_command(app)
    context_cls = type(root.make_context("sluice", ["--help"], resilient_parsing=True))

    def walk(path: list[str], cmd: Any, parent: Any) -> Iterator[tuple[list[str], Any, Any]]:
        ctx = context_cls(cmd, info_name=path[-1], parent=parent)
        yield path, cmd, ctx
        subcommands = getattr(cmd, "commands", None) or {}
        for name, sub in subcommands.items():
            if getattr(sub, "hidden", False):
                continue
            yield from walk([*path, name], sub, ctx)

    yield from walk(["sluice"], root, None)


def _help_text(cmd: Any, ctx: Any) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        text = cmd.get_help(ctx)  # rich prints to stdout and returns ""
    out = buf.getvalue() + (text or "")
    lines = [line.rstrip() for line in out.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def render() -> str:
    """The whole ``docs/cli.md`` text."""
    parts = [HEADER]
    index = []
    sections = []
    with _pinned_rich():
        for path, cmd, ctx in commands():
            title = " ".join(path)
            anchor = title.replace(" ", "-")
            index.append(f"- [`{title}`](#{anchor})")
            sections.append(f"## {title}\n\n```text\n{_help_text(cmd, ctx)}\n```\n")
    parts.append("\n".join(index) + "\n")
    parts.extend(sections)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python scripts/gen_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
