"""The intake side: registered producer keys, authentication of a record's headers,
and authorization of the event's actor and workflow (``sluice.producer.v1``)."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.errors import ConfigError, ErrorCode, RejectedRecord
from sluice.identity import fold_id
from sluice.producers.wire import HEADER_KEY, HEADER_SIG, KEY_ID, TAG_LEN, Algorithm, signing_prefix

__all__ = ["ProducerKey", "ProducerRegistry"]


@dataclass(frozen=True)
class ProducerKey:
    """One registered producer key and what it may speak for."""

    #: Key id as registered (recorded as ``producer_key_id``).
    key_id: str
    algorithm: Algorithm
    #: Folded actor ids this key may publish as.
    actors: frozenset[str]
    #: Folded exact workflow ids.
    workflows: frozenset[str]
    #: Folded workflow globs.
    workflow_globs: tuple[re.Pattern[str], ...] = ()
    revoked: bool = False
    #: HMAC secret (hmac-sha256); never shown in repr or logs.
    secret: bytes = field(default=b"", repr=False)
    #: Ed25519 public key (ed25519).
    public_key: Ed25519PublicKey | None = field(default=None, repr=False)
    #: HMAC state after the key (copied per record: half the cost of ``hmac.digest``).
    _mac: Any = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.algorithm == "hmac-sha256":
            object.__setattr__(self, "_mac", hmac.new(self.secret, digestmod=hashlib.sha256))

    def verify(self, prefix: bytes, value: bytes, tag: bytes) -> bool:
        """True when ``tag`` is this key's MAC or signature over ``prefix + value``."""
        if self._mac is not None:
            mac = self._mac.copy()
            mac.update(prefix)
            mac.update(value)  # no copy of the record into one message
            return hmac.compare_digest(mac.digest(), tag)
        if self.public_key is None:  # pragma: no cover - the loader guarantees it
            return False
        try:
            self.public_key.verify(tag, prefix + value)
        except InvalidSignature:
            return False
        return True

    def may_speak_for(self, actor_id: Any, workflow_id: Any) -> str | None:
        """None when allowed; else the field refused (``actor`` or ``workflow``)."""
        if not isinstance(actor_id, str) or fold_id(actor_id) not in self.actors:
            return "actor"
        if not isinstance(workflow_id, str):
            return "workflow"
        wf = fold_id(workflow_id)
        if wf in self.workflows or any(g.fullmatch(wf) for g in self.workflow_globs):
            return None
        return "workflow"


class ProducerRegistry:
    """Registered producer keys by key id; authenticates and authorizes records."""

    def __init__(self, keys: Iterable[ProducerKey], *, source_hash: str = "") -> None:
        """Build from keys.

        Raises:
            ConfigError: two key ids fold to the same id, or key material is reused.
        """
        by_id: dict[str, ProducerKey] = {}
        folded: dict[str, str] = {}
        material: dict[bytes, str] = {}
        for k in keys:
            f = fold_id(k.key_id)
            if f in folded:
                raise ConfigError(
                    f"producers registry: key ids {folded[f]!r} and {k.key_id!r} collide"
                )
            folded[f] = k.key_id
            mat = _material_digest(k)
            if mat in material:
                raise ConfigError(
                    f"producers registry: keys {material[mat]!r} and {k.key_id!r} "
                    "share the same key material"
                )
            material[mat] = k.key_id
            by_id[k.key_id] = k
        self._by_id = by_id
        #: Hex SHA-256 of the file it was loaded from ("" when built in memory).
        self.source_hash = source_hash

    def __len__(self) -> int:
        return len(self._by_id)

    def key(self, key_id: str) -> ProducerKey | None:
        """The key with this exact id, or None."""
        return self._by_id.get(key_id)

    def authenticate(
        self,
        headers: Sequence[tuple[str, bytes | None]] | None,
        topic: str,
        key: bytes | None,
        value: bytes,
    ) -> ProducerKey:
        """The producer key whose MAC/signature over this record verifies.

        Raises:
            RejectedRecord: ``producer_unsigned`` (a header is missing),
                ``producer_malformed`` (a header repeated, not ASCII key id, not base64,
                wrong length), ``producer_unknown_key``, ``producer_revoked_key`` or
                ``producer_bad_signature``. Details never quote header bytes.
        """
        kid_raw: bytes | None = None
        sig_raw: bytes | None = None
        n_kid = n_sig = 0
        for name, hval in headers or ():
            if name == HEADER_KEY:
                n_kid += 1
                kid_raw = hval
            elif name == HEADER_SIG:
                n_sig += 1
                sig_raw = hval
        if n_kid == 0 or n_sig == 0:
            missing = HEADER_KEY if n_kid == 0 else HEADER_SIG
            raise RejectedRecord(ErrorCode.PRODUCER_UNSIGNED, f"no {missing} header")
        if n_kid > 1 or n_sig > 1:
            raise RejectedRecord(ErrorCode.PRODUCER_MALFORMED, "producer header repeated")
        if not isinstance(kid_raw, bytes | bytearray) or not isinstance(sig_raw, bytes | bytearray):
            raise RejectedRecord(ErrorCode.PRODUCER_MALFORMED, "producer header has no value")
        try:
            key_id = bytes(kid_raw).decode("ascii")
        except UnicodeDecodeError:
            raise RejectedRecord(
                ErrorCode.PRODUCER_MALFORMED, f"{HEADER_KEY} is not an ASCII key id"
            ) from None
        if not KEY_ID.fullmatch(key_id):
            raise RejectedRecord(
                ErrorCode.PRODUCER_MALFORMED, f"{HEADER_KEY} is not a valid key id"
            )
        try:
            tag = binascii.a2b_base64(sig_raw, strict_mode=True)
        except (binascii.Error, ValueError):
            tag = b""
        if not tag or binascii.b2a_base64(tag, newline=False) != sig_raw:
            # One spelling per tag: no padding tricks, whitespace or trailing bits.
            raise RejectedRecord(ErrorCode.PRODUCER_MALFORMED, f"{HEADER_SIG} is not base64")
        pk = self._by_id.get(key_id)
        if pk is None:
            raise RejectedRecord(ErrorCode.PRODUCER_UNKNOWN_KEY, "unknown producer key id")
        if pk.revoked:
            raise RejectedRecord(
                ErrorCode.PRODUCER_REVOKED_KEY, f"producer key {pk.key_id} is revoked"
            )
        if len(tag) != TAG_LEN[pk.algorithm]:
            raise RejectedRecord(
                ErrorCode.PRODUCER_MALFORMED,
                f"{HEADER_SIG} must be {TAG_LEN[pk.algorithm]} bytes for {pk.algorithm}",
            )
        if not pk.verify(signing_prefix(key_id, topic, key), value, tag):
            raise RejectedRecord(
                ErrorCode.PRODUCER_BAD_SIGNATURE,
                f"{pk.algorithm} tag of producer key {pk.key_id} does not verify",
            )
        return pk

    @staticmethod
    def authorize(pk: ProducerKey, event: Mapping[str, Any]) -> None:
        """Check that ``pk`` may speak for the event's actor and workflow.

        Raises:
            RejectedRecord: ``producer_not_authorized`` naming the field, never its value.
        """
        actor = event.get("actor")
        actor_id = actor.get("id") if isinstance(actor, Mapping) else None
        refused = pk.may_speak_for(actor_id, event.get("workflow_id"))
        if refused is not None:
            raise RejectedRecord(
                ErrorCode.PRODUCER_NOT_AUTHORIZED,
                f"producer key {pk.key_id} may not speak for this {refused}",
                field="actor.id" if refused == "actor" else "workflow_id",
            )


def _material_digest(k: ProducerKey) -> bytes:
    if k.algorithm == "hmac-sha256":
        return b"hmac:" + hashlib.sha256(k.secret).digest()
    assert k.public_key is not None  # noqa: S101 - the loader guarantees it
    raw = k.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b"ed25519:" + raw
