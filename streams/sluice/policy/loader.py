"""Read a policy file: the entry point that runs parsing, compilation and the checks.

``check_policy`` returns every problem; ``load_policy`` refuses (``ConfigError``, one
line naming the rule) when any problem is an error, and logs warnings. The jobs, in
order: :mod:`sluice.policy.parse` (YAML to checked structures),
:mod:`sluice.policy.compile` (CEL), :mod:`sluice.policy.reachability` (rules that can
never decide, weakening) and :mod:`sluice.policy.probe` (run-time type errors).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sluice.errors import ConfigError
from sluice.policy.compile import compile_default, compile_rule
from sluice.policy.engine import Policy
from sluice.policy.model import Problem
from sluice.policy.parse import parse_default, parse_policy, parse_rules
from sluice.policy.probe import probe
from sluice.policy.reachability import check_rules
from sluice.policy.rule import CompiledRule

__all__ = ["DEFAULT_POLICY", "check_policy", "check_policy_bytes", "load_policy"]

log = logging.getLogger(__name__)

#: Name of the policy shipped inside the package (``sluice/policy/default.yaml``).
DEFAULT_POLICY = "default.yaml"


@dataclass(slots=True)
class _Doc:
    rules: list[CompiledRule] = field(default_factory=list)
    default: CompiledRule | None = None
    lists: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _read(path: str | Path | None) -> tuple[bytes, str]:
    if path is None:
        data = resources.files("sluice.policy").joinpath(DEFAULT_POLICY).read_bytes()
        return data, f"<package>/{DEFAULT_POLICY}"
    try:
        return Path(path).read_bytes(), str(path)
    except OSError as exc:
        raise ConfigError(f"policy file {path}: cannot read ({exc.strerror or exc})") from exc


def _parse(data: bytes) -> _Doc:
    """Every job on one file's bytes; problems in file order, then the rule-set checks."""
    raw = parse_policy(data)
    doc = _Doc(lists=raw.lists, limits=raw.limits, problems=raw.problems)
    if raw.body is None:
        return doc
    problems = doc.problems
    # Compiled as they are read, so each rule's problems follow its parse problems.
    for name, when, outcome in parse_rules(raw.rules, problems):
        rule = compile_rule(name, when, outcome, doc.lists, doc.limits, problems)
        if rule is not None:
            doc.rules.append(rule)
    default_outcome = parse_default(raw.body, problems)
    from sluice.quarantine.config import parse_quarantine_config

    parse_quarantine_config(raw.body.get("controls"), problems)  # who may quarantine, lift
    if default_outcome is not None:
        doc.default = compile_default(default_outcome)
    if not doc.rules and not raw.rules:
        problems.append(Problem("no rules: every event gets the default", None, "warning"))
    check_rules(doc.rules, doc.default, problems)
    probe(doc.rules, doc.lists, doc.limits, problems)
    return doc


def check_policy_bytes(data: bytes) -> list[Problem]:
    """Every problem in a policy file's bytes, errors first in file order, then warnings."""
    doc = _parse(data)
    errors = [p for p in doc.problems if p.severity == "error"]
    return errors + [p for p in doc.problems if p.severity != "error"]


def check_policy(path: str | Path | None) -> list[Problem]:
    """Validate a policy file (None: the shipped default) without loading it.

    Returns problems: YAML syntax, unknown keys, bad outcomes or durations, CEL syntax
    errors, unknown variables/event fields/lists, unreachable or duplicate rules, and
    conditions that give non-bools or type errors on sample events. Empty means clean.

    Raises:
        ConfigError: the file cannot be read.
    """
    data, _ = _read(path)
    return check_policy_bytes(data)


def load_policy(path: str | Path | None = None, *, optimize: bool = True) -> Policy:
    """Load and compile a policy file; None loads the policy shipped in the package.

    ``optimize=False`` evaluates every rule with plain CEL (the reference semantics).

    Raises:
        ConfigError: unreadable file or any error-severity problem; the one-line message
            names the rule (``policy rule 'x': CEL error at 1:5: ...``).
    """
    data, source = _read(path)
    doc = _parse(data)
    errors = [p for p in doc.problems if p.severity == "error"]
    if errors:
        more = (
            f" (and {len(errors) - 1} more; run `sluice policy check`)" if len(errors) > 1 else ""
        )
        raise ConfigError(f"{source}: {errors[0]}{more}")
    for p in doc.problems:
        log.warning("policy warning", extra={"policy": source, "problem": str(p)})
    assert doc.default is not None  # noqa: S101 - no errors means the default parsed
    return Policy(
        doc.rules,
        doc.default,
        hashlib.sha256(data).hexdigest(),
        lists=doc.lists,
        limits=doc.limits,
        source=source,
        optimize=optimize,
    )
