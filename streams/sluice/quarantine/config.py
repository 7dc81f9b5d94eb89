"""Who may engage and lift a quarantine: the ``controls:`` section of the policy file.

::

    controls:
      quarantine:
        add:  {roles: [security]}               # one signature from any of these roles
        lift: {roles: [security], approvals: 2}  # distinct reviewers, each with such a role
        hold: {roles: [security], approvals: 1, ttl: 4h}  # how a quarantined event is reviewed

Every key is optional; the values above are the defaults (also for a policy file without
``controls:``). A quarantined event's hold always rejects on expiry (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.policy.model import HoldSpec, Problem, parse_duration_ms

__all__ = ["QuarantineConfig", "load_quarantine_config", "parse_quarantine_config"]

_SECTIONS = frozenset({"add", "lift", "hold"})
_KEYS = {
    "add": frozenset({"roles"}),
    "lift": frozenset({"roles", "approvals"}),
    "hold": frozenset({"roles", "approvals", "ttl"}),
}
_WHERE = "controls.quarantine"


_DEFAULT_HOLD = HoldSpec(roles=("security",), approvals=1, ttl_ms=4 * 3_600_000)


@dataclass(frozen=True, slots=True)
class QuarantineConfig:
    """The roles and counts that authorize quarantine controls."""

    add_roles: frozenset[str] = frozenset({"security"})
    lift_roles: frozenset[str] = frozenset({"security"})
    lift_approvals: int = 2
    hold: HoldSpec = _DEFAULT_HOLD


def _roles(value: Any, where: str, problems: list[Problem]) -> tuple[str, ...] | None:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(r, str) and r.strip() for r in value)
    ):
        problems.append(Problem(f"{where}.roles must be a non-empty list of role names"))
        return None
    return tuple(dict.fromkeys(value))


def _count(value: Any, where: str, problems: list[Problem]) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 20:
        problems.append(Problem(f"{where}.approvals must be a whole number from 1 to 20"))
        return None
    return value


def parse_quarantine_config(controls: Any, problems: list[Problem]) -> QuarantineConfig:
    """The config from a policy file's ``controls:`` value (None: the defaults).

    Problems (unknown keys, bad roles or counts) go to ``problems``; the defaults stand
    in for what is wrong.
    """
    cfg = QuarantineConfig()
    if controls is None:
        return cfg
    if not isinstance(controls, Mapping):
        problems.append(Problem("controls: must be a mapping (quarantine: ...)"))
        return cfg
    for key in controls:
        if key != "quarantine":
            problems.append(Problem(f"controls: unknown key {key!r}"))
    body = controls.get("quarantine")
    if body is None:
        return cfg
    if not isinstance(body, Mapping):
        problems.append(Problem(f"{_WHERE}: must be a mapping (add, lift, hold)"))
        return cfg
    add_roles, lift_roles, lift_n, hold = (
        cfg.add_roles,
        cfg.lift_roles,
        cfg.lift_approvals,
        cfg.hold,
    )
    for section, value in body.items():
        where = f"{_WHERE}.{section}"
        if section not in _SECTIONS:
            problems.append(Problem(f"{_WHERE}: unknown key {section!r}"))
            continue
        if not isinstance(value, Mapping):
            problems.append(Problem(f"{where}: must be a mapping"))
            continue
        for key in value:
            if key not in _KEYS[section]:
                problems.append(Problem(f"{where}: unknown key {key!r}"))
        roles = _roles(value["roles"], where, problems) if "roles" in value else None
        count = _count(value["approvals"], where, problems) if "approvals" in value else None
        if section == "add" and roles:
            add_roles = frozenset(roles)
        elif section == "lift":
            lift_roles = frozenset(roles) if roles else lift_roles
            lift_n = count or lift_n
        elif section == "hold":
            ttl = hold.ttl_ms
            if "ttl" in value:
                try:
                    ttl = parse_duration_ms(value["ttl"])
                except ValueError as exc:
                    problems.append(Problem(f"{where}.ttl: {exc}"))
            hold = HoldSpec(
                roles=roles or hold.roles, approvals=count or hold.approvals, ttl_ms=ttl
            )
    return QuarantineConfig(frozenset(add_roles), frozenset(lift_roles), lift_n, hold)


def load_quarantine_config(policy_file: str | Path | None) -> QuarantineConfig:
    """The config from a policy file (None: the shipped default policy).

    Raises:
        ConfigError: the section is invalid (one line naming the key).
    """
    from sluice.errors import ConfigError
    from sluice.yamlstrict import safe_load_strict

    if policy_file is None:
        path = Path(__file__).resolve().parent.parent / "policy" / "default.yaml"
    else:
        path = Path(policy_file)
    try:
        raw = safe_load_strict(path.read_text(encoding="utf-8"))
    except Exception as exc:
        raise ConfigError(f"cannot read policy file {path} ({type(exc).__name__})") from None
    problems: list[Problem] = []
    cfg = parse_quarantine_config(raw.get("controls") if isinstance(raw, dict) else None, problems)
    if problems:
        raise ConfigError(f"{path}: {problems[0]}")
    return cfg
