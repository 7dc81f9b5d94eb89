"""Reading a producers registry file (YAML, :mod:`sluice.producers`) into a
:class:`~sluice.producers.registry.ProducerRegistry`, with one-line errors that name
the file and the entry and never show key material."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.errors import ConfigError
from sluice.identity import fold_id
from sluice.keytext import decode_b64_key
from sluice.producers.registry import ProducerKey, ProducerRegistry
from sluice.producers.wire import ALGORITHMS, KEY_ID, MIN_SECRET_BYTES

__all__ = ["load_producers", "producers_from_data"]

#: The public module's logger name, as before it became a package.
log = logging.getLogger("sluice.producers")

_ENTRY_KEYS = frozenset(
    {
        "key_id",
        "algorithm",
        "secret_file",
        "public_key",
        "actors",
        "workflows",
        "revoked",
        "description",
    }
)


def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in fold_id(pattern):
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def load_producers(path: str | os.PathLike[str]) -> ProducerRegistry:
    """Read and check a producers registry file (YAML, :mod:`sluice.producers`).

    Raises:
        ConfigError: unreadable file, bad YAML, or a bad entry; one line naming the
            file and the entry, never key material.
    """
    import yaml

    from sluice.yamlstrict import safe_load_strict

    target = Path(path)
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read producers registry {target}: {exc.strerror}") from None
    try:
        data = safe_load_strict(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"producers registry {target} is not valid YAML{where}") from None
    registry = producers_from_data(
        data,
        source=str(target),
        base_dir=target.parent,
        source_hash=hashlib.sha256(raw).hexdigest(),
    )
    log.info(
        "loaded producers registry",
        extra={"path": str(target), "producers": len(registry), "hash": registry.source_hash},
    )
    return registry


def producers_from_data(
    data: Any,
    *,
    source: str = "producers registry",
    base_dir: Path | None = None,
    source_hash: str = "",
) -> ProducerRegistry:
    """Build a registry from parsed YAML/JSON data (``secret_file`` relative to ``base_dir``).

    Raises:
        ConfigError: the data does not have the registry shape (names the entry).
    """
    if not isinstance(data, Mapping) or set(data) != {"producers"}:
        raise ConfigError(f"{source}: expected a mapping with only a 'producers' list")
    entries = data["producers"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: 'producers' must be a non-empty list")
    keys = [
        _entry(e, f"{source}: producers[{i}]", base_dir or Path.cwd())
        for i, e in enumerate(entries)
    ]
    try:
        return ProducerRegistry(keys, source_hash=source_hash)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).removeprefix('producers registry: ')}") from None


def _entry(entry: Any, where: str, base_dir: Path) -> ProducerKey:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with key_id, algorithm, actors, workflows")
    if "secret" in entry:
        raise ConfigError(f"{where}: inline 'secret' is refused; use secret_file")
    unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kid = entry.get("key_id")
    if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
        raise ConfigError(f"{where}: key_id must match [A-Za-z0-9._:@-]{{1,128}}")
    where = f"{where} (key_id {kid!r})"
    algorithm = entry.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"{where}: algorithm must be one of {', '.join(ALGORITHMS)}")
    revoked = entry.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ConfigError(f"{where}: revoked must be true or false")
    desc = entry.get("description")
    if desc is not None and not isinstance(desc, str):
        raise ConfigError(f"{where}: description must be a string")
    actors = _id_list(entry.get("actors"), f"{where}: actors")
    workflows = _id_list(entry.get("workflows"), f"{where}: workflows")
    exact = frozenset(fold_id(w) for w in workflows if "*" not in w and "?" not in w)
    globs = tuple(_glob(w) for w in workflows if "*" in w or "?" in w)
    secret = b""
    public_key: Ed25519PublicKey | None = None
    if algorithm == "hmac-sha256":
        if "public_key" in entry:
            raise ConfigError(f"{where}: public_key is for ed25519; hmac-sha256 uses secret_file")
        secret = _read_secret(entry.get("secret_file"), where, base_dir)
    else:
        if "secret_file" in entry:
            raise ConfigError(f"{where}: secret_file is for hmac-sha256; ed25519 uses public_key")
        try:
            raw = decode_b64_key(entry.get("public_key"), 32, "public_key")
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    return ProducerKey(
        key_id=kid,
        algorithm=algorithm,
        actors=frozenset(fold_id(a) for a in actors),
        workflows=exact,
        workflow_globs=globs,
        revoked=revoked,
        secret=secret,
        public_key=public_key,
    )


def _id_list(value: Any, where: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and fold_id(v) for v in value)
    ):
        raise ConfigError(f"{where} must be a non-empty list of non-empty strings")
    return value


def _read_secret(value: Any, where: str, base_dir: Path) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: secret_file must be a path")
    path = Path(value)
    if not path.is_absolute():
        path = base_dir / path
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret_file {path}: {exc.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{where}: secret_file {path} must hold at least {MIN_SECRET_BYTES} bytes"
        )
    return secret
