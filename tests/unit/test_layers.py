"""The runtime does not import the tools or the CLI (``sluice.tools``, ``sluice.cli``).

Tools and the CLI sit on top of the runtime; the reverse edge would drag benchmarks,
fault injection or typer into every worker and make the layers circular. Walks every
module's imports with ``ast`` (also those inside functions, relative ones, and
``importlib.import_module`` / ``__import__`` with a literal name).
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import sluice

PKG = Path(sluice.__file__).resolve().parent
UPPER = ("sluice.cli", "sluice.tools")
#: Modules allowed to import the upper layers (they are the upper layers).
EXEMPT = ("sluice.cli", "sluice.tools", "sluice.__main__")


def _module_name(path: Path) -> str:
    parts = ("sluice", *path.relative_to(PKG).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in ``path``."""
    source = path.read_text("utf-8")
    try:
        tree = ast.parse(source, filename=str(path))
    except SystemError:
        # CPython 3.11 (python/cpython#106905): an error raised by a finalizer that runs
        # while the tree is built (a garbage-collected asyncio task of an earlier test)
        # surfaces as "AST constructor recursion depth mismatch"; the source is fine
        gc.collect()
        tree = ast.parse(source, filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from sluice import tools`` names the subpackage in the alias.
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _runtime_modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        name = _module_name(path)
        if not _is_under(name, EXEMPT):
            out.append((path, name))
    return out


def test_runtime_modules_are_found() -> None:
    names = {name for _, name in _runtime_modules()}
    assert {"sluice.worker", "sluice.pipeline", "sluice.sanitize"} <= names
    assert not any(_is_under(n, EXEMPT) for n in names)


def test_runtime_does_not_import_cli_or_tools() -> None:
    bad = [
        f"{path.relative_to(PKG.parent)}:{line} imports {target}"
        for path, name in _runtime_modules()
        for line, target in _imports(path, name)
        if _is_under(target, UPPER)
    ]
    assert not bad, "runtime → tools/CLI imports:\n" + "\n".join(bad)


def test_the_check_sees_each_kind_of_import(tmp_path: Path) -> None:
    # The walker itself: a module under sluice.gate with one import of each form.
    src = (
        "import sluice.tools.chaos\n"
        "from sluice.cli import main\n"
        "from ..tools import bench\n"
        "from .. import cli\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('sluice.tools.dev.broker')\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(src)
    hits = [t for _, t in _imports(path, "sluice.gate.mod") if _is_under(t, UPPER)]
    assert {h.split(".")[1] for h in hits} == {"tools", "cli"}
    assert {line for line, t in _imports(path, "sluice.gate.mod") if _is_under(t, UPPER)} == {
        1,
        2,
        3,
        4,
        7,
    }
