"""The notifier's sinks file (``SLUICE_NOTIFY_FILE``): strict YAML into frozen dataclasses.

Format (README "Notifications")::

    console_url: https://sluice.example.com     # else SLUICE_CONSOLE_URL
    retry: {attempts: 5, base_seconds: 1, max_seconds: 60}
    max_age_seconds: 3600     # a decision older than this when first read is not sent
    sinks:
      - {name: ops, type: webhook, url: https://..., secret_env: OPS_HOOK_SECRET}
      - {name: team, type: slack, url_env: SLACK_WEBHOOK_URL}
      - {name: mail, type: smtp, host: smtp.example.com, port: 587, starttls: true,
         username: sluice, password_file: /run/secrets/smtp, from: sluice@example.com,
         to: [reviewers@example.com]}

Every sink may narrow what it receives with ``transitions`` (a subset of
:data:`TRANSITIONS`) and ``roles`` (only holds that ask for one of these roles).
Secrets (webhook ``secret``, Slack ``url``, SMTP ``password``) may be given inline, as
``<name>_env`` (an environment variable) or as ``<name>_file``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.errors import ConfigError
from sluice.yamlstrict import safe_load_strict

__all__ = [
    "TRANSITIONS",
    "NotifyConfig",
    "RetryConfig",
    "SinkConfig",
    "load_notify_config",
    "parse_notify_config",
]

#: What a notification can be about.
TRANSITIONS = ("held", "escalated", "expiring", "approved", "rejected")
_TYPES = ("webhook", "slack", "smtp")
_TOP_KEYS = {"console_url", "retry", "max_age_seconds", "sinks"}
_COMMON = {"name", "type", "transitions", "roles", "timeout_seconds"}
_SINK_KEYS = {
    "webhook": _COMMON | {"url", "secret", "secret_env", "secret_file"},
    "slack": _COMMON | {"url", "url_env", "url_file"},
    "smtp": _COMMON
    | {"host", "port", "starttls", "ssl", "username", "password", "password_env"}
    | {"password_file", "from", "to", "cafile"},
}


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Delivery attempts per notification and sink before it is dead-lettered."""

    attempts: int = 5
    base_seconds: float = 1.0
    max_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """One sink; ``secret`` is the webhook HMAC key, the Slack URL or the SMTP password."""

    name: str
    type: str
    url: str = ""
    secret: str = field(default="", repr=False)
    transitions: frozenset[str] = frozenset(TRANSITIONS)
    roles: frozenset[str] = frozenset()
    timeout_seconds: float = 10.0
    host: str = ""
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str = ""
    sender: str = ""
    to: tuple[str, ...] = ()
    cafile: str = ""

    def wants(self, transition: str, roles: tuple[str, ...]) -> bool:
        """True when this sink receives ``transition`` for a hold asking ``roles``."""
        if transition not in self.transitions:
            return False
        return not self.roles or bool(self.roles.intersection(roles))


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """The whole file."""

    sinks: tuple[SinkConfig, ...]
    console_url: str = ""
    retry: RetryConfig = RetryConfig()
    max_age_seconds: int = 3600


def _secret(d: Mapping[str, Any], name: str, where: str) -> str:
    given = [k for k in (name, f"{name}_env", f"{name}_file") if k in d]
    if len(given) > 1:
        raise ConfigError(f"{where}: give only one of {', '.join(given)}")
    if not given:
        return ""
    key = given[0]
    value = str(d[key])
    if key.endswith("_env"):
        got = os.environ.get(value)
        if not got:
            raise ConfigError(f"{where}: environment variable {value} is not set")
        return got
    if key.endswith("_file"):
        try:
            return Path(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {key} ({exc.strerror})") from None
    return value


def _sink(d: Any, i: int) -> SinkConfig:
    where = f"sinks[{i}]"
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: must be a mapping")
    kind = d.get("type")
    if kind not in _TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(_TYPES)}")
    unknown = set(d) - _SINK_KEYS[kind]
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    name = d.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"{where}: name must be a non-empty string without '/'")
    transitions = frozenset(d.get("transitions") or TRANSITIONS)
    bad = transitions - set(TRANSITIONS)
    if bad:
        raise ConfigError(f"{where}: unknown transitions {', '.join(sorted(map(str, bad)))}")
    common: dict[str, Any] = {
        "name": name,
        "type": kind,
        "transitions": transitions,
        "roles": frozenset(str(r) for r in d.get("roles") or ()),
        "timeout_seconds": float(d.get("timeout_seconds", 10.0)),
    }
    if kind == "webhook":
        secret = _secret(d, "secret", where)
        if not d.get("url") or not secret:
            raise ConfigError(f"{where}: a webhook needs url and secret (HMAC key)")
        return SinkConfig(url=str(d["url"]), secret=secret, **common)
    if kind == "slack":
        url = _secret(d, "url", where)
        if not url:
            raise ConfigError(f"{where}: a slack sink needs url (incoming webhook)")
        return SinkConfig(url=url, **common)
    to = d.get("to")
    if isinstance(to, str):
        to = [to]
    if not d.get("host") or not d.get("from") or not to:
        raise ConfigError(f"{where}: an smtp sink needs host, from and to")
    return SinkConfig(
        host=str(d["host"]),
        port=int(d.get("port", 465 if d.get("ssl") else 587)),
        starttls=bool(d.get("starttls", not d.get("ssl", False))),
        ssl=bool(d.get("ssl", False)),
        username=str(d.get("username") or ""),
        secret=_secret(d, "password", where),
        sender=str(d["from"]),
        to=tuple(str(t) for t in to),
        cafile=str(d.get("cafile") or ""),
        **common,
    )


def parse_notify_config(data: Any, console_url: str = "") -> NotifyConfig:
    """Build the config from loaded YAML (``console_url``: default when the file has none).

    Raises:
        ConfigError: anything missing, unknown or of the wrong shape.
    """
    if not isinstance(data, dict):
        raise ConfigError("notify file: top level must be a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"notify file: unknown keys {', '.join(sorted(unknown))}")
    raw_sinks = data.get("sinks")
    if not isinstance(raw_sinks, list) or not raw_sinks:
        raise ConfigError("notify file: sinks must be a non-empty list")
    sinks = tuple(_sink(d, i) for i, d in enumerate(raw_sinks))
    names = [s.name for s in sinks]
    if len(set(names)) != len(names):
        raise ConfigError("notify file: sink names must be unique")
    r = data.get("retry") or {}
    if not isinstance(r, dict) or set(r) - {"attempts", "base_seconds", "max_seconds"}:
        raise ConfigError("notify file: retry takes attempts, base_seconds, max_seconds")
    retry = RetryConfig(
        attempts=max(1, int(r.get("attempts", 5))),
        base_seconds=max(0.0, float(r.get("base_seconds", 1.0))),
        max_seconds=max(0.0, float(r.get("max_seconds", 60.0))),
    )
    url = str(data.get("console_url") or console_url).rstrip("/")
    return NotifyConfig(sinks, url, retry, max_age_seconds=int(data.get("max_age_seconds", 3600)))


def load_notify_config(path: Path, console_url: str = "") -> NotifyConfig:
    """Read and check the sinks file at ``path``.

    Raises:
        ConfigError: unreadable, not strict YAML, or not a valid config.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read notify file {path}: {exc.strerror}") from None
    try:
        data = safe_load_strict(text)
    except Exception as exc:
        raise ConfigError(f"notify file {path}: {exc}") from None
    return parse_notify_config(data, console_url)
