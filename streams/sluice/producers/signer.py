"""The producer side: :class:`ProducerSigner` attaches ``sluice.producer.v1`` headers,
:func:`read_producer_key` loads a producer key file (:mod:`sluice.producers`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.errors import ConfigError
from sluice.keytext import decode_b64_key
from sluice.producers.wire import (
    ALGORITHMS,
    HEADER_KEY,
    HEADER_SIG,
    KEY_FILE_FORMAT,
    KEY_ID,
    MIN_SECRET_BYTES,
    Algorithm,
    signing_prefix,
)

__all__ = ["ProducerSigner", "read_producer_key"]


class ProducerSigner:
    """Attaches ``sluice.producer.v1`` headers with one producer key.

    Args:
        key_id: the registered key id.
        algorithm: ``hmac-sha256`` or ``ed25519``.
        secret: HMAC secret (hmac-sha256).
        private_key: Ed25519 private key (ed25519).
    """

    __slots__ = ("_kid_header", "_mac", "_private_key", "algorithm", "key_id")

    def __init__(
        self,
        key_id: str,
        algorithm: Algorithm,
        *,
        secret: bytes = b"",
        private_key: Ed25519PrivateKey | None = None,
    ) -> None:
        if not KEY_ID.fullmatch(key_id):
            raise ConfigError("producer key id must match [A-Za-z0-9._:@-]{1,128}")
        if algorithm == "hmac-sha256" and len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(f"producer secret must hold at least {MIN_SECRET_BYTES} bytes")
        if algorithm == "ed25519" and private_key is None:
            raise ConfigError("an ed25519 producer key needs a private key")
        self.key_id = key_id
        self.algorithm = algorithm
        self._mac = (
            hmac.new(secret, digestmod=hashlib.sha256) if algorithm == "hmac-sha256" else None
        )
        self._private_key = private_key
        self._kid_header = key_id.encode()

    def __repr__(self) -> str:
        return f"ProducerSigner(key_id={self.key_id!r}, algorithm={self.algorithm!r})"

    def tag(self, topic: str, key: bytes | None, value: bytes) -> bytes:
        """The raw MAC or signature over :func:`signing_bytes`."""
        prefix = signing_prefix(self.key_id, topic, key)
        if self._mac is not None:
            mac = self._mac.copy()
            mac.update(prefix)
            mac.update(value)
            return mac.digest()
        assert self._private_key is not None  # noqa: S101 - checked in __init__
        return self._private_key.sign(prefix + value)

    def headers(self, topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
        """The two record headers for this record."""
        return [
            (HEADER_KEY, self._kid_header),
            (HEADER_SIG, base64.b64encode(self.tag(topic, key, value))),
        ]


def read_producer_key(path: str | os.PathLike[str]) -> ProducerSigner:
    """Load a producer key file (format: :mod:`sluice.producers`).

    Raises:
        ConfigError: unreadable, not a producer key file, or a bad field; one line
            naming the file and the field, never the key material.
    """
    from sluice.yamlstrict import load_key_file

    target = Path(path)
    data = load_key_file(target, "producer key file", KEY_FILE_FORMAT)
    kid = data.get("key_id")
    algorithm = data.get("algorithm")
    if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
        raise ConfigError(f"producer key file {target}: key_id is missing or invalid")
    if algorithm == "hmac-sha256":
        secret = data.get("secret")
        if not isinstance(secret, str):
            raise ConfigError(f"producer key file {target}: secret must be a string")
        try:
            return ProducerSigner(kid, "hmac-sha256", secret=secret.strip().encode())
        except ConfigError as exc:
            raise ConfigError(f"producer key file {target}: {exc}") from None
    if algorithm == "ed25519":
        try:
            raw = decode_b64_key(data.get("private_key"), 32, "private_key")
        except ValueError as exc:
            raise ConfigError(f"producer key file {target}: {exc}") from None
        return ProducerSigner(kid, "ed25519", private_key=Ed25519PrivateKey.from_private_bytes(raw))
    raise ConfigError(
        f"producer key file {target}: algorithm must be one of {', '.join(ALGORITHMS)}"
    )
