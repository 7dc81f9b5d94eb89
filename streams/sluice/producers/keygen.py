"""Producer keys: make a key file (and the worker's secret file) and its registry entry.

What ``sluice keys producer`` runs. The key file is for ``sluice emit --producer-key``
or the Emitter; the entry goes under ``producers:`` in SLUICE_PRODUCERS_FILE (format
and checks in :mod:`sluice.producers`). Files are created with mode 0600 and never
overwritten; nothing here prints or logs the secret or private key.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.errors import ConfigError
from sluice.producers import ALGORITHMS, KEY_FILE_FORMAT, ProducerSigner

__all__ = ["make_producer_key"]


def make_producer_key(
    *,
    key_id: str,
    algorithm: str,
    actors: Iterable[str],
    workflows: Iterable[str],
    out: Path,
    secret_out: Path | None = None,
) -> dict[str, object]:
    """Write a new producer key file ``out`` (and, for hmac-sha256, the worker's secret
    file, default ``<out>.secret``); return its producers-registry entry.

    Raises:
        ConfigError: unknown algorithm, bad key id, or a file exists or cannot be written.
    """
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"--algorithm must be one of {', '.join(ALGORITHMS)}")
    entry: dict[str, object] = {"key_id": key_id, "algorithm": algorithm}
    key_doc: dict[str, str] = {"format": KEY_FILE_FORMAT, "key_id": key_id}
    key_doc["algorithm"] = algorithm
    secret_path: Path | None = None
    if algorithm == "hmac-sha256":
        secret = secrets.token_hex(32)
        ProducerSigner(key_id, "hmac-sha256", secret=secret.encode())  # checks the key id
        secret_path = secret_out or out.with_name(out.name + ".secret")
        key_doc["secret"] = secret
        entry["secret_file"] = str(secret_path)
    else:
        private = Ed25519PrivateKey.generate()
        ProducerSigner(key_id, "ed25519", private_key=private)
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        pub = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        key_doc["private_key"] = base64.b64encode(raw).decode()
        entry["public_key"] = base64.b64encode(pub).decode()
    entry["actors"] = list(actors)
    entry["workflows"] = list(workflows)
    header = "# sluice producer key: keep it secret, never commit or share it\n"
    _write_new(out, header + yaml.safe_dump(key_doc, sort_keys=False))
    if secret_path is not None:
        _write_new(secret_path, key_doc["secret"] + "\n")
    return entry


def _write_new(path: Path, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; not overwriting a key") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
