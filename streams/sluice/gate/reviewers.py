"""The reviewers registry (``SLUICE_REVIEWERS_FILE``): who may decide, with which keys.

The file has the SPEC §5 shape (unknown keys are ignored, so it may grow)::

    reviewers:
      - id: alice
        roles: [security, finance]
        keys:
          - id: alice-2026-11          # the Decision's key_id
            public_key: "<base64 of the 32-byte raw Ed25519 public key>"
            revoked: false             # optional, default false

Public keys are parsed once at load, so checking a decision costs one Ed25519
verification. :meth:`Registry.check` answers only "is this decision really signed by
that reviewer with a live key"; roles, separation of duties, replays, content hash and
expiry are the gate's business (``sluice.gate.quorum``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.errors import ConfigError
from sluice.gate.signatures import canonical_bytes, public_key_from_b64

__all__ = [
    "KeyRefusal",
    "Registry",
    "Reviewer",
    "ReviewerKey",
    "load_registry",
    "registry_from_data",
]

log = logging.getLogger(__name__)

_SIGNATURE_LEN = 64


class KeyRefusal(StrEnum):
    """Why :meth:`Registry.check` refuses a decision (a bounded metric label set)."""

    UNKNOWN_REVIEWER = "unknown_reviewer"
    UNKNOWN_KEY = "unknown_key"
    REVOKED_KEY = "revoked_key"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class ReviewerKey:
    """One registered signing key."""

    #: Key id, unique per reviewer (the Decision's ``key_id``).
    id: str
    #: Parsed public key, ready to verify.
    public_key: Ed25519PublicKey
    #: A revoked key's signatures are refused.
    revoked: bool = False


@dataclass(frozen=True)
class Reviewer:
    """A reviewer: id, roles, keys by key id."""

    id: str
    roles: frozenset[str]
    keys: Mapping[str, ReviewerKey] = field(default_factory=dict)


class Registry:
    """Reviewers by id; verifies who signed a decision."""

    def __init__(self, reviewers: Iterable[Reviewer], *, source_hash: str = "") -> None:
        """Build from reviewers (ids must be unique).

        Raises:
            ConfigError: two reviewers share an id.
        """
        by_id: dict[str, Reviewer] = {}
        for reviewer in reviewers:
            if reviewer.id in by_id:
                raise ConfigError(f"reviewers registry: duplicate reviewer id {reviewer.id!r}")
            by_id[reviewer.id] = reviewer
        self._by_id: Mapping[str, Reviewer] = MappingProxyType(by_id)
        #: Hex SHA-256 of the file it was loaded from ("" when built in memory).
        self.source_hash = source_hash

    @property
    def reviewers(self) -> Mapping[str, Reviewer]:
        """All reviewers, by id (read-only)."""
        return self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def reviewer(self, reviewer_id: str) -> Reviewer | None:
        """The reviewer with this id, or None."""
        return self._by_id.get(reviewer_id)

    def key_live(self, reviewer_id: str, key_id: str) -> bool:
        """Whether ``key_id`` is a registered, non-revoked key of ``reviewer_id``."""
        reviewer = self._by_id.get(reviewer_id)
        key = reviewer.keys.get(key_id) if reviewer is not None else None
        return key is not None and not key.revoked

    def check(self, decision: Mapping[str, Any]) -> str | None:
        """Whether ``decision`` is signed by its reviewer with a live registered key.

        Returns:
            None when the signature verifies with a non-revoked key of
            ``decision["reviewer_id"]``; otherwise a :class:`KeyRefusal` (a ``str``):
            ``malformed``, ``unknown_reviewer``, ``unknown_key``, ``revoked_key`` or
            ``bad_signature`` (checked in that order; a missing or mistyped field or a
            signature that is not 64 bytes is ``malformed``). Never raises on bad input.
        """
        if not isinstance(decision, Mapping):
            return KeyRefusal.MALFORMED
        reviewer_id = decision.get("reviewer_id")
        key_id = decision.get("key_id")
        signature = decision.get("signature")
        if (
            not isinstance(reviewer_id, str)
            or not isinstance(key_id, str)
            or not isinstance(signature, bytes | bytearray)
        ):
            return KeyRefusal.MALFORMED
        reviewer = self._by_id.get(reviewer_id)
        if reviewer is None:
            return KeyRefusal.UNKNOWN_REVIEWER
        key = reviewer.keys.get(key_id)
        if key is None:
            return KeyRefusal.UNKNOWN_KEY
        if key.revoked:
            return KeyRefusal.REVOKED_KEY
        if len(signature) != _SIGNATURE_LEN:
            return KeyRefusal.MALFORMED
        try:
            message = canonical_bytes(decision)
        except ValueError:
            return KeyRefusal.MALFORMED
        try:
            key.public_key.verify(bytes(signature), message)
        except InvalidSignature:
            return KeyRefusal.BAD_SIGNATURE
        return None


def load_registry(path: str | os.PathLike[str]) -> Registry:
    """Read and check a reviewers registry file (YAML, module docstring).

    Returns:
        The registry, public keys parsed.

    Raises:
        ConfigError: unreadable file, bad YAML, or a bad entry; one line naming the
            file and the entry (reviewer index/id, key id, field).
    """
    import yaml

    target = Path(path)
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read reviewers registry {target}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"reviewers registry {target} is not valid YAML{where}") from None
    registry = registry_from_data(
        data, source=str(target), source_hash=hashlib.sha256(raw).hexdigest()
    )
    log.info(
        "loaded reviewers registry",
        extra={"path": str(target), "reviewers": len(registry), "hash": registry.source_hash},
    )
    return registry


def registry_from_data(
    data: Any, *, source: str = "reviewers registry", source_hash: str = ""
) -> Registry:
    """Build a registry from already-parsed YAML/JSON data.

    Raises:
        ConfigError: the data does not have the registry shape (names the entry).
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("reviewers"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'reviewers' list")
    reviewers: list[Reviewer] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["reviewers"]):
        reviewer = _reviewer(entry, f"{source}: reviewers[{index}]")
        if reviewer.id in seen:
            raise ConfigError(
                f"{source}: reviewers[{index}]: duplicate reviewer id {reviewer.id!r}"
            )
        seen.add(reviewer.id)
        reviewers.append(reviewer)
    return Registry(reviewers, source_hash=source_hash)


def _reviewer(entry: Any, where: str) -> Reviewer:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with id, roles, keys")
    rid = entry.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise ConfigError(f"{where}: id must be a non-empty string")
    where = f"{where} (id {rid!r})"
    roles = entry.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) and r.strip() for r in roles):
        raise ConfigError(f"{where}: roles must be a list of non-empty strings")
    keys_data = entry.get("keys", [])
    if not isinstance(keys_data, list):
        raise ConfigError(f"{where}: keys must be a list")
    keys: dict[str, ReviewerKey] = {}
    for k_index, k_entry in enumerate(keys_data):
        key = _key(k_entry, f"{where}: keys[{k_index}]")
        if key.id in keys:
            raise ConfigError(f"{where}: duplicate key id {key.id!r}")
        keys[key.id] = key
    return Reviewer(id=rid, roles=frozenset(roles), keys=MappingProxyType(keys))


def _key(entry: Any, where: str) -> ReviewerKey:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with id, public_key, revoked")
    kid = entry.get("id")
    if not isinstance(kid, str) or not kid.strip():
        raise ConfigError(f"{where}: id must be a non-empty string")
    where = f"{where} (id {kid!r})"
    revoked = entry.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ConfigError(f"{where}: revoked must be true or false")
    try:
        public_key = public_key_from_b64(entry.get("public_key"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return ReviewerKey(id=kid, public_key=public_key, revoked=revoked)
