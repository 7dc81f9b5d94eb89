"""The sluice service key that signs audit checkpoints (Ed25519), and its public half.

Private key file (``SLUICE_AUDIT_KEY_FILE``, mode 0600): PKCS#8 PEM (what
``sluice audit keygen`` writes), or the raw 32-byte seed, or that seed as base64/hex text.
Public key file (``sluice audit verify --public-key``): SubjectPublicKeyInfo PEM (the
``.pub`` file keygen writes), raw 32 bytes, or base64/hex of them; a private key file is
accepted too (its public half is used).

A key id is derived from the public key (``sluice-audit-`` + 16 hex of its SHA-256), so
a verifier needs no table mapping ids to keys beyond the keys themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sluice.errors import ConfigError

__all__ = [
    "CheckpointSigner",
    "key_id_for",
    "load_public_key",
    "load_public_keys",
    "load_signer",
    "public_key_raw",
    "verify_signature",
    "write_key_pair",
]

log = logging.getLogger(__name__)

_MAX_KEY_FILE = 16 * 1024


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of ``key``."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_for(key: Ed25519PublicKey) -> str:
    """The key id recorded in checkpoints signed by the private half of ``key``."""
    return "sluice-audit-" + hashlib.sha256(public_key_raw(key)).hexdigest()[:16]


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``key``'s Ed25519 signature of ``message``."""
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _read(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > _MAX_KEY_FILE:
        raise ConfigError(f"{what} {path} is too large to be a key")
    return data


def _raw32(data: bytes) -> bytes | None:
    """32 raw bytes from raw, base64 or hex content; None when it is none of them."""
    if len(data) == 32:
        return data
    text = data.strip()
    try:
        decoded = (
            binascii.unhexlify(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        )
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == 32 else None


class CheckpointSigner:
    """Signs checkpoint messages with the sluice service key.

    Args:
        private_key: the Ed25519 private key.
    """

    __slots__ = ("_key", "key_id", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        #: The public half (for verifiers).
        self.public_key: Ed25519PublicKey = private_key.public_key()
        #: Recorded in every checkpoint this signer writes.
        self.key_id: str = key_id_for(self.public_key)

    @classmethod
    def generate(cls) -> CheckpointSigner:
        """A signer with a fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CheckpointSigner:
        """Load the private key file (formats in the module docstring).

        Raises:
            ConfigError: unreadable, or not an Ed25519 private key (the message never
                contains key material).
        """
        p = Path(path)
        data = _read(p, "audit key file")
        try:
            mode = p.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning("audit key file is readable by others", extra={"path": str(p)})
        except OSError:  # pragma: no cover - read just succeeded
            pass
        if b"-----BEGIN" in data:
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError):
                raise ConfigError(f"audit key file {p} is not an unencrypted PEM key") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(f"audit key file {p} does not hold an Ed25519 key")
            return cls(key)
        seed = _raw32(data)
        if seed is None:
            raise ConfigError(f"audit key file {p} is not an Ed25519 private key")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (for writing the key file)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def load_signer(path: str | os.PathLike[str]) -> CheckpointSigner:
    """The service key from ``SLUICE_AUDIT_KEY_FILE`` (see :meth:`CheckpointSigner.from_file`)."""
    return CheckpointSigner.from_file(path)


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Read a public key file (or a private one, taking its public half).

    Raises:
        ConfigError: unreadable or not an Ed25519 key.
    """
    p = Path(path)
    data = _read(p, "public key file")
    if b"PRIVATE KEY" in data:
        return CheckpointSigner.from_file(p).public_key
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            raise ConfigError(f"public key file {p} is not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"public key file {p} does not hold an Ed25519 key")
        return key
    raw = _raw32(data)
    if raw is None:
        raise ConfigError(f"public key file {p} is not an Ed25519 public key")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ConfigError(f"public key file {p} is not an Ed25519 public key") from None


def load_public_keys(paths: list[Path] | tuple[Path, ...]) -> dict[str, Ed25519PublicKey]:
    """key id → public key for every file in ``paths``.

    Raises:
        ConfigError: a file is unusable.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        key = load_public_key(path)
        keys[key_id_for(key)] = key
    return keys


def write_key_pair(path: str | os.PathLike[str], *, force: bool = False) -> CheckpointSigner:
    """Generate a service key: private PEM at ``path`` (0600), public PEM at ``path.pub``.

    Returns:
        The signer (its ``key_id`` and ``public_key`` are for the operator).

    Raises:
        ConfigError: the file exists (and not ``force``) or cannot be written.
    """
    p = Path(path)
    pub = p.with_name(p.name + ".pub")
    signer = CheckpointSigner.generate()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(p, flags, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(signer.private_pem())
        os.chmod(p, 0o600)  # O_CREAT's mode does not apply to an existing file
        pub.write_bytes(signer.public_pem())
    except FileExistsError:
        raise ConfigError(f"{p} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {p}: {exc.strerror}") from None
    return signer
