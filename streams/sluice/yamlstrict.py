"""YAML for security configuration: ``yaml.safe_load`` that refuses a duplicate key.

PyYAML keeps the *last* of two equal keys in one mapping, so a reviewers registry entry
reading ``revoked: true`` on one line and ``revoked: false`` further down is live, and a
policy rule with two ``when:`` lines evaluates the one a reader of the diff may not
see. Every file that decides who may approve, publish or pass loads through
:func:`safe_load_strict`, which raises ``yaml.YAMLError`` (with the line) instead. The
error names the key, never a value (key files hold secrets in values). Merge keys
(``<<``) keep their YAML meaning: an explicit key overriding a merged one is visible
where it is written.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

__all__ = ["load_key_file", "safe_load_strict"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse a key written twice."""


def _construct_mapping(loader: _StrictLoader, node: MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable: SafeConstructor reports it
            continue
        if duplicate:
            shown = key if isinstance(key, str) and len(key) <= 64 else type(key).__name__
            raise ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {shown!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


def _construct_yaml_map(loader: _StrictLoader, node: MappingNode) -> Any:
    data: dict[Any, Any] = {}
    yield data
    data.update(_construct_mapping(loader, node))


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _construct_yaml_map)


def safe_load_strict(stream: str | bytes) -> Any:
    """``yaml.safe_load`` that raises ``yaml.YAMLError`` on a duplicate mapping key."""
    return yaml.load(stream, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def load_key_file(path: str | os.PathLike[str], label: str, fmt: str) -> dict[str, Any]:
    """Read a private key file (YAML with ``format: <fmt>``), strictly.

    Warns (structured log, the path only) when the file is readable by group or others.

    Raises:
        ConfigError: unreadable, not YAML, or not a ``fmt`` file; one line naming the
            file (``label`` says which kind), never the key material.
    """
    from sluice.errors import ConfigError

    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
        mode = target.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read {label} {target}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label} {target} is not a sluice {label} ({fmt})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logging.getLogger("sluice.keys").warning(
            f"{label} is readable by others; chmod 600 it", extra={"path": str(target)}
        )
    try:
        data = safe_load_strict(text)
    except yaml.YAMLError:
        raise ConfigError(f"{label} {target} is not valid YAML") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ConfigError(f"{label} {target} is not a sluice {label} ({fmt})")
    return data
