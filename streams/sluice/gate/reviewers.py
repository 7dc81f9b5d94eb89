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
verification. Reviewer ids compare as people read them (:func:`sluice.identity.fold_id`):
``alice``, ``Alice`` and its fullwidth spelling are one reviewer, so a registry listing
two of them is refused, and so are two look-alike ids (:func:`sluice.identity.skeleton_id`:
``alice`` and ``alice`` with a Cyrillic U+0430 for ``a``), and so is one public key listed
twice (under two reviewers or two key ids): either would let one person cast two votes.

:meth:`Registry.check` answers only "is this decision really signed by that reviewer
with a live key"; roles, separation of duties, replays, content hash and expiry
are the gate's business (``sluice.gate.quorum``).
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
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sluice.errors import ConfigError
from sluice.gate.signatures import canonical_bytes, public_key_from_b64
from sluice.identity import fold_id, skeleton_id

__all__ = [
    "KeyRefusal",
    "Registry",
    "RegistryFile",
    "Reload",
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
    """Reviewers by folded id; verifies who signed a decision."""

    def __init__(self, reviewers: Iterable[Reviewer], *, source_hash: str = "") -> None:
        """Build from reviewers (ids unique after folding, every public key listed once).

        Raises:
            ConfigError: two reviewers' ids fold to the same id, or one public key is
                listed twice (one line naming both entries, never the key).
        """
        by_id: dict[str, Reviewer] = {}
        by_skeleton: dict[str, Reviewer] = {}
        owner: dict[bytes, str] = {}  # raw public key → "reviewer/key id" listing it
        for reviewer in reviewers:
            folded = fold_id(reviewer.id)
            other = by_id.get(folded)
            if other is not None:
                raise ConfigError(
                    f"reviewers registry: reviewer ids {other.id!r} and {reviewer.id!r}"
                    f" are the same id ({folded!r}) compared as people read them"
                )
            skeleton = skeleton_id(reviewer.id)
            other = by_skeleton.get(skeleton)
            if other is not None:
                raise ConfigError(
                    f"reviewers registry: reviewer ids {other.id!r} and {reviewer.id!r}"
                    f" look alike ({skeleton!r}); give look-alike reviewers distinct ids"
                )
            by_skeleton[skeleton] = reviewer
            by_id[folded] = reviewer
            for key in reviewer.keys.values():
                raw = key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
                where = f"{reviewer.id!r} key {key.id!r}"
                if raw in owner:
                    raise ConfigError(
                        f"reviewers registry: one public key is listed as {owner[raw]}"
                        f" and as {where}; a key belongs to one reviewer, once"
                    )
                owner[raw] = where
        self._by_id: Mapping[str, Reviewer] = MappingProxyType(by_id)
        #: Hex SHA-256 of the file it was loaded from ("" when built in memory).
        self.source_hash = source_hash

    @property
    def reviewers(self) -> Mapping[str, Reviewer]:
        """All reviewers, by folded id (read-only)."""
        return self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def roles(self) -> frozenset[str]:
        """Every role some reviewer holds (what bounds the ``role`` metric label)."""
        return frozenset(r for rv in self._by_id.values() for r in rv.roles)

    @property
    def key_count(self) -> int:
        """Registered keys, revoked or not."""
        return sum(len(r.keys) for r in self._by_id.values())

    @property
    def live_key_count(self) -> int:
        """Registered keys that are not revoked."""
        return sum(1 for r in self._by_id.values() for k in r.keys.values() if not k.revoked)

    def reviewer(self, reviewer_id: str) -> Reviewer | None:
        """The reviewer whose id folds like ``reviewer_id`` (:func:`fold_id`), or None."""
        if not isinstance(reviewer_id, str):
            return None
        return self._by_id.get(fold_id(reviewer_id))

    def canonical_id(self, reviewer_id: str) -> str | None:
        """The registered spelling of ``reviewer_id`` (``Alice`` → ``alice``), or None.

        Count and compare votes by this id, never by the decision's spelling.
        """
        reviewer = self.reviewer(reviewer_id)
        return None if reviewer is None else reviewer.id

    def key_live(self, reviewer_id: str, key_id: str) -> bool:
        """True iff the reviewer exists (by folded id) and holds ``key_id``, not revoked."""
        reviewer = self.reviewer(reviewer_id)
        if reviewer is None:
            return False
        key = reviewer.keys.get(key_id)
        return key is not None and not key.revoked

    def key_fingerprint(self, reviewer_id: str, key_id: str) -> str | None:
        """Hex SHA-256 of the raw public key registered as ``key_id`` (None: no such key).

        A counted vote remembers it: replacing the public key under the same key id (a
        rotation in place after a compromise) withdraws the votes the old key signed.
        """
        reviewer = self.reviewer(reviewer_id)
        key = reviewer.keys.get(key_id) if reviewer is not None else None
        if key is None:
            return None
        return hashlib.sha256(
            key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        ).hexdigest()

    def check(self, decision: Mapping[str, Any]) -> str | None:
        """Whether ``decision`` is signed by its reviewer with a live registered key.

        Returns:
            None when the signature verifies with a non-revoked key of
            ``decision["reviewer_id"]``, spelled exactly as registered; otherwise a
            :class:`KeyRefusal` (a ``str``):
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
        reviewer = self.reviewer(reviewer_id)
        if reviewer is None or reviewer.id != reviewer_id:
            # Another spelling of a registered id (``ALICE`` for ``alice``) is refused:
            # a gate that told voters apart by the decision's spelling would otherwise
            # count one person twice. Decisions name their reviewer as registered.
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
    target = Path(path)
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read reviewers registry {target}: {exc.strerror}") from None
    registry = _parse(raw, target)
    log.info(
        "loaded reviewers registry",
        extra={"path": str(target), "reviewers": len(registry), "hash": registry.source_hash},
    )
    return registry


def _parse(raw: bytes, target: Path) -> Registry:
    import yaml

    from sluice.yamlstrict import safe_load_strict

    try:
        data = safe_load_strict(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"reviewers registry {target} is not valid YAML{where}") from None
    return registry_from_data(data, source=str(target), source_hash=hashlib.sha256(raw).hexdigest())


@dataclass(frozen=True, slots=True)
class Reload:
    """What :meth:`RegistryFile.poll` found: a new registry, or why the file was refused."""

    #: The new registry, already in force in the :class:`RegistryFile` (None if refused).
    registry: Registry | None
    #: One line: why the changed file was refused (the old registry stays in force).
    error: str | None = None
    #: Hex SHA-256 of the file content that was read ("" when it could not be read).
    file_hash: str = ""


_Stat = tuple[int, int, int, int]  # (device, inode, size, mtime_ns)
_UNSEEN = object()


class RegistryFile:
    """A reviewers registry file, watched for changes (revocation without a restart).

    :meth:`poll` compares the file's stat and then its SHA-256 with the registry in
    force; a changed file is checked in full before it replaces the registry, and a file
    that fails any check leaves the registry in force untouched. A timed poll reads a
    changed file only once two polls in a row saw the same stat (a file still being
    written is not read half-way; no clock is involved, so a skewed mtime does not
    matter); ``poll(force=True)`` (SIGHUP) reads at once. Pure apart from reading the
    file: the caller decides when to poll and what to do with a new registry.

    Args:
        path: the registry file.
        registry: the registry in force (default: load ``path`` now; raises ConfigError).
    """

    def __init__(self, path: str | os.PathLike[str], registry: Registry | None = None) -> None:
        self.path = Path(path)
        self._stat = self._stat_now()
        #: The registry in force.
        self.current = registry if registry is not None else load_registry(self.path)
        self._pending: object = _UNSEEN
        self._refused_hash: str | None = None

    def _stat_now(self) -> _Stat | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def poll(self, *, force: bool = False) -> Reload | None:
        """Look at the file once; returns None when there is nothing new to act on.

        Returns:
            ``Reload(registry)`` when the content changed and passed every check (it is
            now :attr:`current`); ``Reload(None, error)`` when the changed content (or a
            missing file) was refused, once per distinct content unless ``force``.
        """
        before = self._stat_now()
        if not force:
            if before == self._stat:
                self._pending = _UNSEEN
                return None
            if before != self._pending:
                self._pending = before  # changed: read it once it holds still
                return None
        self._pending = _UNSEEN
        if before is None:
            self._stat = None
            return Reload(None, f"cannot read reviewers registry {self.path}")
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            self._stat = None
            return Reload(None, f"cannot read reviewers registry {self.path}: {exc.strerror}")
        if self._stat_now() != before:
            return None  # changed while being read: look again at the next poll
        self._stat = before
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self.current.source_hash:
            self._refused_hash = None
            return None
        if digest == self._refused_hash and not force:
            return None
        try:
            registry = _parse(raw, self.path)
        except ConfigError as exc:
            self._refused_hash = digest
            return Reload(None, str(exc), digest)
        self._refused_hash = None
        self.current = registry
        return Reload(registry, None, digest)


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
    seen: dict[str, str] = {}  # folded id → id as written
    for index, entry in enumerate(data["reviewers"]):
        reviewer = _reviewer(entry, f"{source}: reviewers[{index}]")
        folded = fold_id(reviewer.id)
        if folded in seen:
            same = "" if seen[folded] == reviewer.id else f" (same as {seen[folded]!r})"
            raise ConfigError(
                f"{source}: reviewers[{index}]: duplicate reviewer id {reviewer.id!r}{same}"
            )
        seen[folded] = reviewer.id
        reviewers.append(reviewer)
    try:
        return Registry(reviewers, source_hash=source_hash)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("reviewers registry", source, 1)) from None


def _reviewer(entry: Any, where: str) -> Reviewer:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with id, roles, keys")
    rid = entry.get("id")
    if not isinstance(rid, str) or not fold_id(rid):
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
