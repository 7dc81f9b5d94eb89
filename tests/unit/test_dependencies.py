"""pyproject.toml declares what the code imports: nothing unused, nothing that only
arrives as someone else's dependency.

Runtime dependencies are checked against ``streams/``; the ``dev`` extra against
``tests/``, ``scripts/`` and ``fuzz/`` (plus the tools below, each with the place that
uses it); the ``train`` extra against ``scripts/``.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]

#: Distributions whose import name is not their normalised distribution name.
IMPORT_NAME = {
    "common-expression-language": "cel",
    "google-re2": "re2",
    "opentelemetry-api": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry",
    "pyyaml": "yaml",
    "python-stdnum": "stdnum",
    "scikit-learn": "sklearn",
}

#: Dev distributions that are run or plugged in rather than imported: (file, text) that
#: shows each one in use.
TOOLS = {
    "pytest": (".ci/run", "make test"),
    "pytest-asyncio": ("pyproject.toml", 'asyncio_mode = "auto"'),
    "pytest-timeout": ("pyproject.toml", "timeout = 600"),
    "ruff": (".ci/run", "ruff check"),
    "mypy": (".ci/run", "mypy"),
    "types-pyyaml": ("pyproject.toml", "[tool.mypy]"),  # stubs for `import yaml`
    "build": ("tests/deploy/test_deploy_files.py", '"-m", "build"'),
}


def _dist(requirement: str) -> str:
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert m, requirement
    return re.sub(r"[-_.]+", "-", m.group(0)).lower()


def _module(dist: str) -> str:
    return IMPORT_NAME.get(dist, dist.replace("-", "_"))


@functools.cache
def _third_party_imports(*folders: str) -> dict[str, frozenset[str]]:
    """Top-level third-party module → files importing it (absolute imports, at any depth)."""
    out: dict[str, set[str]] = {}
    for folder in folders:
        base = ROOT / folder
        local = {folder} | {p.stem for p in base.rglob("*.py")} | {p.name for p in base.iterdir()}
        for path in base.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in local or top == "sluice":
                        continue
                    out.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return {m: frozenset(f) for m, f in out.items()}


def _declared(group: list[str]) -> list[str]:
    return [_dist(r) for r in group]


#: The light producer install (``pip install sluice-gate``) plus the ``worker`` extra: together
#: what the package under streams/ imports.
PRODUCER = _declared(PROJECT["dependencies"])
WORKER = _declared(PROJECT["optional-dependencies"]["worker"])
OTEL = _declared(PROJECT["optional-dependencies"]["otel"])  # sluice.tracing, imported when on
RUNTIME = [*PRODUCER, *WORKER, *OTEL]
DEV = _declared(PROJECT["optional-dependencies"]["dev"])
TRAIN = _declared(PROJECT["optional-dependencies"]["train"])


def test_no_duplicate_declarations() -> None:
    for group in (RUNTIME, DEV, TRAIN):
        assert len(group) == len(set(group)), sorted(d for d in group if group.count(d) > 1)


@pytest.mark.parametrize("dist", RUNTIME)
def test_runtime_dependency_is_imported_by_the_package(dist: str) -> None:
    assert _module(dist) in _third_party_imports("streams"), (
        f"{dist} is declared but nothing under streams/ imports {_module(dist)}"
    )


def test_package_imports_only_declared_runtime_dependencies() -> None:
    declared = {_module(d) for d in RUNTIME}
    found = _third_party_imports("streams")
    undeclared = {m: sorted(f) for m, f in found.items() if m not in declared}
    assert undeclared == {}, "imported under streams/ but not in [project] dependencies"


@pytest.mark.parametrize("dist", DEV)
def test_dev_dependency_is_used(dist: str) -> None:
    if dist in TOOLS:
        path, text = TOOLS[dist]
        assert text in (ROOT / path).read_text(), f"{dist}: {text!r} not in {path}"
        return
    assert _module(dist) in _third_party_imports("tests", "scripts", "fuzz"), (
        f"{dist} is in the dev extra but nothing under tests/, scripts/ or fuzz/ imports it"
    )


@pytest.mark.parametrize("dist", TRAIN)
def test_train_dependency_is_used(dist: str) -> None:
    assert _module(dist) in _third_party_imports("scripts"), dist


def test_tests_and_scripts_import_only_declared_dependencies() -> None:
    declared = {_module(d) for d in (*RUNTIME, *DEV, *TRAIN)}
    found = _third_party_imports("tests", "scripts", "fuzz")
    assert {m: sorted(f) for m, f in found.items() if m not in declared} == {}


def test_faust_is_not_declared_while_nothing_imports_it() -> None:
    # The README's design notes give the measured reason (stream machinery ~100 µs/event).
    assert "faust" not in _third_party_imports("streams")
    assert "faust-streaming" not in RUNTIME
    notes = (ROOT / "docs" / "operator-guide.md", ROOT / "README.md")
    assert any("faust-streaming" in p.read_text() for p in notes if p.is_file())
