"""docs/cli.md is what ``scripts/gen_cli_reference.py`` renders from the live command tree."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen_cli_reference.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    expected = _generator().render()
    current = (ROOT / "docs" / "cli.md").read_text()
    assert current == expected, (
        "docs/cli.md is stale: regenerate it with "
        "`PYTHONPATH=streams python scripts/gen_cli_reference.py`"
    )


def test_cli_reference_covers_every_verb() -> None:
    gen = _generator()
    paths = [" ".join(path) for path, _cmd, _ctx in gen.commands()]
    text = (ROOT / "docs" / "cli.md").read_text()
    for verb in ("sluice run", "sluice emit", "sluice review approve", "sluice audit verify"):
        assert verb in paths
        assert f"## {verb}\n" in text
    assert "\x1b[" not in text  # no colour escapes
