"""Ed25519 signatures over Decisions, and reviewers' private key files.

Canonical signing bytes (``sluice.decision.v1``)
-----------------------------------------------

A Decision is signed over :func:`canonical_bytes`, which is::

    b"sluice.decision.v1\\n"
    + for each field in DECISION_FIELDS order:
        4-byte big-endian unsigned length of the value's UTF-8 bytes + those bytes

with the fields ``decision_id, event_id, verdict, reviewer_id, reason, decided_at,
key_id, content_hash`` (every Decision field except ``signature``). ``decided_at`` is
written as its base-10 ASCII digits (an optional leading ``-``, no leading zeros);
every other field is a string taken as is (no normalisation: what was signed is what is
compared). The length prefixes make the encoding injective: no two different decisions
share signing bytes, whatever their fields contain. The domain tag keeps a Decision
signature from being valid for any other message a reviewer key might ever sign.

Approve with amendments (``sluice.decision.v2``)
------------------------------------------------

A Decision whose ``amended_hash`` is set (not null) is signed over the same encoding
with the domain tag ``b"sluice.decision.v2\n"`` and one more field after
``content_hash``: ``amended_hash`` (hex SHA-256 of ``amended_event``, the amended
event's bytes; the gate checks that they hash to it). ``content_hash`` stays the held
event's, so the signature binds both the hold and the amended bytes. A decision without
an amendment keeps the v1 form byte for byte (the console signs it in JavaScript), and
the two tags keep a v1 signature from verifying as v2 or the reverse: stripping or
adding ``amended_hash`` breaks the signature.

Private key file
----------------

``sluice keys new`` writes a small YAML document (mode 0600)::

    # sluice reviewer private key: keep it secret, never commit or share it
    format: sluice.ed25519.v1
    reviewer_id: alice
    key_id: alice-2026-11
    private_key: <base64 of the 32-byte raw Ed25519 private key (seed)>

The public half goes into the reviewers registry (``sluice.gate.reviewers``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sluice.clock import now_ms
from sluice.errors import ConfigError
from sluice.keytext import decode_b64_key

__all__ = [
    "AMENDED_DECISION_FIELDS",
    "DECISION_FIELDS",
    "DOMAIN_TAG",
    "DOMAIN_TAG_AMENDED",
    "KEY_FILE_FORMAT",
    "PrivateKeyFile",
    "build_decision",
    "canonical_bytes",
    "public_key_from_b64",
    "public_key_to_b64",
    "read_private_key",
    "registry_entry",
    "sign_decision",
    "verify_decision",
    "write_private_key",
]

log = logging.getLogger(__name__)

#: Domain separation tag, first bytes of every signed message.
DOMAIN_TAG = b"sluice.decision.v1\n"
#: Domain tag of a decision approving an amended event (``amended_hash`` set).
DOMAIN_TAG_AMENDED = b"sluice.decision.v2\n"

#: Signed fields, in signing order: every Decision field except ``signature``.
DECISION_FIELDS: tuple[str, ...] = (
    "decision_id",
    "event_id",
    "verdict",
    "reviewer_id",
    "reason",
    "decided_at",
    "key_id",
    "content_hash",
)
#: Signed fields of an amended decision (``DOMAIN_TAG_AMENDED``), in signing order.
AMENDED_DECISION_FIELDS: tuple[str, ...] = (*DECISION_FIELDS, "amended_hash")

#: ``format`` value of a private key file.
KEY_FILE_FORMAT = "sluice.ed25519.v1"

_SIGNATURE_LEN = 64
_RAW_KEY_LEN = 32
_MAX_FIELD_BYTES = 1 << 20


def canonical_bytes(decision: Mapping[str, Any]) -> bytes:
    """The bytes a Decision's signature covers (format in the module docstring).

    Returns:
        ``DOMAIN_TAG`` followed by each field of :data:`DECISION_FIELDS`, length-prefixed;
        with ``amended_hash`` set, ``DOMAIN_TAG_AMENDED`` and
        :data:`AMENDED_DECISION_FIELDS`.

    Raises:
        ValueError: a field is missing, has the wrong type (``decided_at`` must be an
            ``int``, the others ``str``) or is larger than 1 MiB. The message names the
            field, never its value.
    """
    amended = decision.get("amended_hash") is not None
    parts = [DOMAIN_TAG_AMENDED if amended else DOMAIN_TAG]
    for name in AMENDED_DECISION_FIELDS if amended else DECISION_FIELDS:
        if name not in decision:
            raise ValueError(f"decision field {name} is missing")
        value = decision[name]
        if name == "decided_at":
            # bool is an int subclass; a True timestamp is a bug, not a time.
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("decision field decided_at must be an integer (ms)")
            raw = str(int(value)).encode("ascii")
        else:
            if not isinstance(value, str):
                raise ValueError(f"decision field {name} must be a string")
            try:
                raw = value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"decision field {name} is not valid Unicode") from None
        if len(raw) > _MAX_FIELD_BYTES:
            raise ValueError(f"decision field {name} is too large")
        parts.append(len(raw).to_bytes(4, "big"))
        parts.append(raw)
    return b"".join(parts)


def build_decision(
    *,
    event_id: str,
    verdict: str,
    reviewer_id: str,
    key_id: str,
    content_hash: str,
    reason: str = "",
    decided_at: int | None = None,
    decision_id: str | None = None,
    amended_event: bytes | None = None,
) -> dict[str, Any]:
    """An unsigned Decision record (sign it with :func:`sign_decision`).

    ``amended_event``: approve with amendments, the amended event's bytes (its hash is
    set as ``amended_hash`` and signed, v2 form); None: a plain decision (v1 form).
    """
    amended: dict[str, Any] = {}
    if amended_event is not None:
        amended = {
            "amended_event": amended_event,
            "amended_hash": hashlib.sha256(amended_event).hexdigest(),
        }
    return {
        "decision_id": decision_id or str(uuid.uuid4()),
        "event_id": event_id,
        "verdict": verdict,
        "reviewer_id": reviewer_id,
        "reason": reason,
        "decided_at": now_ms() if decided_at is None else decided_at,
        "key_id": key_id,
        "content_hash": content_hash,
        "signature": b"",
        **amended,
    }


def sign_decision(decision: dict[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """Sign ``decision`` and store the signature in its ``signature`` field.

    Returns:
        The 64-byte Ed25519 signature (also set as ``decision["signature"]``).

    Raises:
        ValueError: the decision is malformed (see :func:`canonical_bytes`).
    """
    signature = private_key.sign(canonical_bytes(decision))
    decision["signature"] = signature
    return signature


def verify_decision(decision: Mapping[str, Any], public_key: Ed25519PublicKey) -> bool:
    """Whether ``decision["signature"]`` is a valid signature by ``public_key``.

    Returns:
        True only for a well-formed decision with a verifying signature; False for
        anything else (missing or mistyped fields, wrong length, bad signature). Never
        raises on bad input.
    """
    try:
        signature = decision.get("signature")
        if not isinstance(signature, bytes | bytearray) or len(signature) != _SIGNATURE_LEN:
            return False
        message = canonical_bytes(decision)
        public_key.verify(bytes(signature), message)
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False
    return True


def public_key_to_b64(public_key: Ed25519PublicKey) -> str:
    """Standard base64 of the 32-byte raw public key (the registry's ``public_key``)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_b64(text: Any) -> Ed25519PublicKey:
    """Parse a registry ``public_key`` value.

    Raises:
        ValueError: not strict base64 of exactly 32 bytes.
    """
    raw = decode_b64_key(text, _RAW_KEY_LEN, "public key")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class PrivateKeyFile:
    """A reviewer's private key file, loaded."""

    #: Reviewer id it signs for (the Decision's ``reviewer_id``).
    reviewer_id: str
    #: Key id registered for it (the Decision's ``key_id``).
    key_id: str
    #: The key itself; never printed or logged.
    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:  # keep key material out of reprs and tracebacks
        return f"PrivateKeyFile(reviewer_id={self.reviewer_id!r}, key_id={self.key_id!r})"


def write_private_key(
    path: str | os.PathLike[str],
    reviewer_id: str,
    key_id: str,
    key: Ed25519PrivateKey,
    *,
    force: bool = False,
) -> None:
    """Write a private key file (YAML, module docstring) with mode 0600.

    The file is created 0600 from the start (never world-readable, not even briefly).
    With ``force`` an existing file is replaced atomically.

    Raises:
        ConfigError: the file exists and ``force`` is false, or it cannot be written.
    """
    _check_id(reviewer_id, "reviewer id")
    _check_id(key_id, "key id")
    target = Path(path)
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    text = (
        "# sluice reviewer private key: keep it secret, never commit or share it\n"
        f"format: {KEY_FILE_FORMAT}\n"
        f"reviewer_id: {_yaml_str(reviewer_id)}\n"
        f"key_id: {_yaml_str(key_id)}\n"
        f"private_key: {base64.b64encode(raw).decode('ascii')}\n"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    dest = target
    if force:
        dest = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(dest, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{target} already exists; use --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(dest, 0o600)  # the umask cannot widen it, but be explicit
        if force:
            os.replace(dest, target)
    except OSError as exc:
        if force:
            dest.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    log.info("wrote private key file", extra={"reviewer_id": reviewer_id, "key_id": key_id})


def read_private_key(path: str | os.PathLike[str]) -> PrivateKeyFile:
    """Load a private key file written by :func:`write_private_key`.

    Returns:
        The reviewer id, key id and key.

    Raises:
        ConfigError: unreadable, not a sluice key file, or a bad field. One line that
            names the file and the field, never the key material.
    """
    from sluice.yamlstrict import load_key_file

    target = Path(path)
    data = load_key_file(target, "key file", KEY_FILE_FORMAT)
    for name in ("reviewer_id", "key_id"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"key file {target}: {name} is missing or empty")
    try:
        raw = decode_b64_key(data.get("private_key"), _RAW_KEY_LEN, "private_key")
    except ValueError as exc:
        raise ConfigError(f"key file {target}: {exc}") from None
    return PrivateKeyFile(
        reviewer_id=data["reviewer_id"],
        key_id=data["key_id"],
        private_key=Ed25519PrivateKey.from_private_bytes(raw),
    )


def registry_entry(reviewer_id: str, key_id: str, public_key_b64: str, roles: list[str]) -> str:
    """The YAML list item to paste under ``reviewers:`` in the registry (SPEC §5 shape)."""

    def q(value: str) -> str:  # JSON strings are valid YAML scalars, whatever they hold
        return json.dumps(value)

    roles_text = "[" + ", ".join(q(r) for r in roles) + "]"
    if not roles:
        roles_text += "  # TODO: the roles this reviewer may decide for, e.g. [security]"
    return (
        f"- id: {q(reviewer_id)}\n"
        f"  roles: {roles_text}\n"
        "  keys:\n"
        f"    - id: {q(key_id)}\n"
        f"      public_key: {q(public_key_b64)}\n"
        "      revoked: false\n"
    )


def _check_id(value: str, what: str) -> None:
    if not value or not value.strip() or any(c in value for c in "\r\n\0"):
        raise ConfigError(f"{what} must be a non-empty single line")


def _yaml_str(value: str) -> str:
    """A YAML scalar that reads back as exactly ``value`` (JSON strings are YAML)."""
    import json

    return json.dumps(value, ensure_ascii=True)
