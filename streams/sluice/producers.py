"""Producer authentication: who may publish events for which actors and workflows.

``actor`` in a WorkflowEvent is self-declared. With a producers registry configured
(``SLUICE_PRODUCERS_FILE``), intake accepts a record only when it carries a valid MAC
or signature of a registered producer key, and only for the actors and workflows that
key may speak for. Without the setting nothing changes (authentication is off).

Header format (``sluice.producer.v1``)
--------------------------------------

Two Kafka record headers, each exactly once:

- ``sluice-producer-key``: the key id, ASCII ``[A-Za-z0-9._:@-]{1,128}``.
- ``sluice-producer-sig``: standard base64 (RFC 4648, with padding) of the 32-byte
  HMAC-SHA256 tag or the 64-byte Ed25519 signature over :func:`signing_bytes`::

      b"sluice.producer.v1\\n"
      + u32be(len(key_id)) + key_id            (UTF-8)
      + u32be(len(topic))  + topic             (UTF-8, the topic written to, prefix included)
      + b"\\x00"                                (record key is null)
        | b"\\x01" + u32be(len(key)) + key      (record key bytes)
      + value                                  (the exact record value bytes)

Binding the key id stops a tag being presented under another key; binding the topic
stops a record signed for one topic (or one deployment's prefix) being replayed into
another; binding the record key stops a body being spliced under another key
(partition). The value is the Avro single-object bytes as sent, so the actor and
workflow inside cannot be changed without breaking the tag; which actors and workflows
the key may speak for is then checked against the decoded event. A verbatim replay of
a signed record is not stopped here: the ``occurred_at`` window and the gate's
``event_id`` handling bound what a replay can do.

Registry file (YAML; every key below, nothing else)::

    producers:
      - key_id: invoice-agent-2026-11
        algorithm: hmac-sha256            # or ed25519
        secret_file: /run/secrets/invoice-agent.key   # hmac-sha256 (relative: to this file)
        # public_key: "<base64 32-byte raw Ed25519 public key>"    # ed25519
        actors: [invoice-agent]           # exact ids, compared with identity.fold_id
        workflows: ["invoices-*", payroll] # exact ids or globs (* and ?), folded too
        revoked: false                    # optional
        description: "..."                # optional

Producer key file (``sluice emit --producer-key FILE`` / ``SLUICE_PRODUCER_KEY_FILE``)::

    format: sluice.producer-key.v1
    key_id: invoice-agent-2026-11
    algorithm: hmac-sha256
    secret: "<the same text as the registry's secret_file>"       # hmac-sha256
    # private_key: "<base64 32-byte raw Ed25519 private key>"    # ed25519
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sluice.errors import ConfigError, ErrorCode, RejectedRecord
from sluice.identity import fold_id

__all__ = [
    "ALGORITHMS",
    "DOMAIN_TAG",
    "HEADER_KEY",
    "HEADER_SIG",
    "KEY_FILE_FORMAT",
    "ProducerKey",
    "ProducerRegistry",
    "ProducerSigner",
    "load_producers",
    "producers_from_data",
    "read_producer_key",
    "signing_bytes",
]

log = logging.getLogger(__name__)

#: Record header carrying the producer key id.
HEADER_KEY = "sluice-producer-key"
#: Record header carrying base64 of the MAC or signature.
HEADER_SIG = "sluice-producer-sig"
#: Domain separation tag, first bytes of every MAC'd or signed message.
DOMAIN_TAG = b"sluice.producer.v1\n"
#: ``format`` of a producer key file.
KEY_FILE_FORMAT = "sluice.producer-key.v1"

Algorithm = Literal["hmac-sha256", "ed25519"]
ALGORITHMS: tuple[str, ...] = ("hmac-sha256", "ed25519")
_TAG_LEN = {"hmac-sha256": 32, "ed25519": 64}
_MIN_SECRET_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
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
_U32 = struct.Struct(">I")


def signing_bytes(key_id: str, topic: str, key: bytes | None, value: bytes) -> bytes:
    """The bytes a producer MACs or signs (module docstring, ``sluice.producer.v1``)."""
    return _signing_prefix(key_id, topic, key) + value


def _signing_prefix(key_id: str, topic: str, key: bytes | None) -> bytes:
    """Everything :func:`signing_bytes` puts before the value."""
    kid = key_id.encode()
    top = topic.encode()
    k = b"\x00" if key is None else b"\x01" + _U32.pack(len(key)) + key
    return b"".join((DOMAIN_TAG, _U32.pack(len(kid)), kid, _U32.pack(len(top)), top, k))


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
        if not _KEY_ID.fullmatch(key_id):
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
        if len(tag) != _TAG_LEN[pk.algorithm]:
            raise RejectedRecord(
                ErrorCode.PRODUCER_MALFORMED,
                f"{HEADER_SIG} must be {_TAG_LEN[pk.algorithm]} bytes for {pk.algorithm}",
            )
        if not pk.verify(_signing_prefix(key_id, topic, key), value, tag):
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


# -- loading -----------------------------------------------------------------------


def load_producers(path: str | os.PathLike[str]) -> ProducerRegistry:
    """Read and check a producers registry file (YAML, module docstring).

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
    if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
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
            raw = _b64(entry.get("public_key"), 32, "public_key")
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
    if len(secret) < _MIN_SECRET_BYTES:
        raise ConfigError(
            f"{where}: secret_file {path} must hold at least {_MIN_SECRET_BYTES} bytes"
        )
    return secret


def _b64(text: Any, n: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(raw) != n:
        raise ValueError(f"{what} must be {n} bytes, got {len(raw)}")
    return raw


# -- the producer's side -----------------------------------------------------------------


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
        if not _KEY_ID.fullmatch(key_id):
            raise ConfigError("producer key id must match [A-Za-z0-9._:@-]{1,128}")
        if algorithm == "hmac-sha256" and len(secret) < _MIN_SECRET_BYTES:
            raise ConfigError(f"producer secret must hold at least {_MIN_SECRET_BYTES} bytes")
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
        prefix = _signing_prefix(self.key_id, topic, key)
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
    """Load a producer key file (module docstring).

    Raises:
        ConfigError: unreadable, not a producer key file, or a bad field; one line
            naming the file and the field, never the key material.
    """
    from sluice.yamlstrict import load_key_file

    target = Path(path)
    data = load_key_file(target, "producer key file", KEY_FILE_FORMAT)
    kid = data.get("key_id")
    algorithm = data.get("algorithm")
    if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
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
            raw = _b64(data.get("private_key"), 32, "private_key")
        except ValueError as exc:
            raise ConfigError(f"producer key file {target}: {exc}") from None
        return ProducerSigner(kid, "ed25519", private_key=Ed25519PrivateKey.from_private_bytes(raw))
    raise ConfigError(
        f"producer key file {target}: algorithm must be one of {', '.join(ALGORITHMS)}"
    )
