"""Chain heads a verification expects, as an operator hands them over in a file."""

from __future__ import annotations

from pathlib import Path

import orjson

from sluice.audit.chain import ChainHead
from sluice.errors import ConfigError

__all__ = ["load_expected_heads"]


def load_expected_heads(path: Path) -> dict[str, ChainHead]:
    """chain → head from a JSON file: a saved ``audit verify --json`` (its ``heads``), or
    an object of chain → ``{"seq": N, "hash": H}`` or → ChainHead metadata string.

    Raises:
        ConfigError: unreadable or not in that shape.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise ConfigError(f"cannot read expected heads from {path}") from None
    if isinstance(data, dict) and isinstance(data.get("heads"), dict):
        data = data["heads"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of chain → head")
    heads: dict[str, ChainHead] = {}
    for chain, value in data.items():
        head: ChainHead | None = None
        if isinstance(value, str):
            head = ChainHead.from_metadata(value)
        elif isinstance(value, dict):
            seq, digest = value.get("seq"), value.get("hash")
            if type(seq) is int and isinstance(digest, str):
                head = ChainHead.from_metadata(ChainHead(seq, digest).to_metadata())
        if head is None:
            raise ConfigError(f"{path}: head of chain {chain!r} is not valid")
        heads[str(chain)] = head
    return heads
