"""``sluice keys producer``: make a producer key and print its producers-registry entry."""

from __future__ import annotations

import os
from pathlib import Path

import typer

__all__ = ["register"]


def producer(
    key_id: str = typer.Option(..., "--key-id", help="Key id ([A-Za-z0-9._:@-], ≤ 128)."),
    actor: list[str] = typer.Option(
        ..., "--actor", help="Actor id the key may speak for (repeatable)."
    ),
    workflow: list[str] = typer.Option(
        ..., "--workflow", help="Workflow id or glob (* ?) the key may speak for (repeatable)."
    ),
    out: Path = typer.Option(..., "--out", help="Producer key file to write (mode 0600)."),
    algorithm: str = typer.Option(
        "hmac-sha256", "--algorithm", help="hmac-sha256 (recommended) or ed25519."
    ),
    secret_out: Path = typer.Option(
        None,
        "--secret-out",
        help="hmac-sha256: the worker's secret_file to write (default: <out>.secret).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Make a producer key file and print its producers-registry entry.

    The key file is for ``sluice emit --producer-key`` or the Emitter; the entry goes
    under ``producers:`` in SLUICE_PRODUCERS_FILE. Never prints the secret or private
    key; refuses to overwrite a file.
    """
    import base64
    import secrets

    import orjson
    import yaml
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sluice.errors import ConfigError
    from sluice.producers import ALGORITHMS, KEY_FILE_FORMAT, ProducerSigner

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
    entry["actors"] = list(actor)
    entry["workflows"] = list(workflow)
    header = "# sluice producer key: keep it secret, never commit or share it\n"
    _write_new(out, header + yaml.safe_dump(key_doc, sort_keys=False))
    if secret_path is not None:
        _write_new(secret_path, key_doc["secret"] + "\n")
    if json_out:
        typer.echo(orjson.dumps(entry).decode())
    else:
        typer.echo(yaml.safe_dump([entry], sort_keys=False).rstrip())


def _write_new(path: Path, text: str) -> None:
    from sluice.errors import ConfigError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; not overwriting a key") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def register(app: typer.Typer) -> None:
    """Add ``keys producer`` (to the ``keys`` group)."""
    from sluice.cli.keys import keys_app

    keys_app.command("producer")(producer)
