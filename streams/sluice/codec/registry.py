"""A small client for a Confluent-compatible schema registry, and the registry wire format.

Confluent framing is ``0x00`` + 4-byte big-endian schema id + Avro body; Avro
single-object encoding is ``C3 01`` + 8-byte fingerprint + body (:mod:`sluice.codec.avro`).
:func:`framing` tells them apart by the first byte.

The client speaks the subset of the Confluent REST API that sluice needs (register a
subject version, set a subject's compatibility, read a schema and its subjects by id),
which Confluent Schema Registry, Karapace and Apicurio (``/apis/ccompat/v7``) all serve.
It is synchronous on ``urllib`` (no new dependency; the worker calls it from a thread,
see :mod:`sluice.codec.framed`).

Subjects follow the operator's naming strategy (``SLUICE_SCHEMA_REGISTRY_SUBJECT_STRATEGY``):

* ``topic`` (default, Confluent's TopicNameStrategy): ``<topic>-value``;
* ``record`` (RecordNameStrategy): ``sluice.v1.<Name>``;
* ``topic_record`` (TopicRecordNameStrategy): ``<topic>-sluice.v1.<Name>``.

Compatibility is set to ``BACKWARD`` on every subject sluice registers: a new schema
must read data written with the previous one, which is what the codec's evolution test
shows for every shipped history schema (``tests/unit/codec/test_avro.py``,
``test_old_writer_schema_resolves_into_current``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from typing import Any, Literal

from sluice.errors import ErrorCode, SluiceError

__all__ = [
    "COMPATIBILITY",
    "CONFLUENT_MAGIC",
    "LRU",
    "RegistryClient",
    "RegistryRefused",
    "RegistryUnavailable",
    "SchemaNotFound",
    "SubjectStrategy",
    "frame_confluent",
    "framing",
    "split_confluent",
    "subject_name",
]

CONFLUENT_MAGIC = b"\x00"
#: Compatibility mode of every subject sluice registers (see the module docstring).
COMPATIBILITY = "BACKWARD"
_CT = "application/vnd.schemaregistry.v1+json"

SubjectStrategy = Literal["topic", "record", "topic_record"]


class RegistryUnavailable(SluiceError):
    """The registry did not answer (connection refused, timeout, 5xx): retry later.

    Never a reason to dead-letter a record: the intake redoes the batch with backoff.
    """

    code = ErrorCode.SCHEMA_REGISTRY_UNAVAILABLE


class RegistryRefused(ValueError):
    """The registry answered a 4xx other than 404 (409: incompatible, 401/403: access)."""


class SchemaNotFound(SluiceError):
    """The registry answered 404 for a schema id (Confluent error code 40403)."""


def frame_confluent(schema_id: int, body: bytes) -> bytes:
    """``body`` in the Confluent wire format: magic 0, 4-byte big-endian id, Avro body."""
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + body


def split_confluent(data: bytes) -> tuple[int, bytes]:
    """(schema id, body) of Confluent-framed ``data`` (the caller checked byte 0 and length)."""
    return int.from_bytes(data[1:5], "big"), data[5:]


def framing(data: bytes) -> Literal["confluent", "single-object", "unknown"]:
    """Which framing ``data`` has, from its first bytes."""
    if data[:1] == CONFLUENT_MAGIC:
        return "confluent"
    if data[:2] == b"\xc3\x01":
        return "single-object"
    return "unknown"


def subject_name(strategy: SubjectStrategy, topic: str, record_name: str) -> str:
    """The value subject of ``record_name`` (full name, e.g. ``sluice.v1.Outcome``) on ``topic``."""
    if strategy == "record":
        return record_name
    if strategy == "topic_record":
        return f"{topic}-{record_name}"
    return f"{topic}-value"


class LRU:
    """A bounded mapping that forgets the least recently used entry (one thread)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        """The value of ``key`` (None if absent); marks it recently used."""
        data = self._data
        value = data.get(key)
        if value is not None:
            data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        """Store ``value``, evicting the oldest entry beyond ``size``."""
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data


class RegistryClient:
    """Confluent-compatible registry REST client (synchronous, no caching of its own).

    Args:
        url: base URL, e.g. ``http://registry:8081`` or ``http://apicurio:8080/apis/ccompat/v7``.
        timeout: seconds per request.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("schema registry URL must be http(s)://host[:port][/path]")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": _CT, "Accept": _CT},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                info = json.loads(exc.read() or b"{}")
            except ValueError:
                info = {}
            if status >= 500 or status == 429:
                msg = f"registry answered {status} to {method} {path}"
                raise RegistryUnavailable(msg) from None
            if status == 404:
                raise SchemaNotFound(str(info.get("message", "not found"))[:200]) from None
            raise RegistryRefused(
                f"registry refused {method} {path}: {status} {str(info.get('message', ''))[:300]}"
            ) from None
        except (OSError, TimeoutError) as exc:  # URLError, refused, reset, timeout
            raise RegistryUnavailable(
                f"registry unreachable ({type(exc).__name__}) for {method} {path}"
            ) from None

    def register(self, subject: str, schema: dict[str, Any] | str) -> int:
        """Register ``schema`` under ``subject`` (idempotent); returns its global id.

        Raises:
            RegistryRefused: the registry refused it (e.g. 409: not compatible).
            RegistryUnavailable: no answer.
        """
        text = schema if isinstance(schema, str) else json.dumps(schema)
        sub = urllib.parse.quote(subject, safe="")
        return int(self._call("POST", f"/subjects/{sub}/versions", {"schema": text})["id"])

    def set_compatibility(self, subject: str, level: str = COMPATIBILITY) -> None:
        """Set ``subject``'s compatibility mode (``BACKWARD``, ``FORWARD``, ``FULL``, ...)."""
        sub = urllib.parse.quote(subject, safe="")
        self._call("PUT", f"/config/{sub}", {"compatibility": level})

    def compatibility(self, subject: str) -> str:
        """``subject``'s compatibility mode as the registry reports it."""
        sub = urllib.parse.quote(subject, safe="")
        got = self._call("GET", f"/config/{sub}")
        return str(got.get("compatibilityLevel") or got.get("compatibility"))

    def is_compatible(self, subject: str, schema: dict[str, Any] | str) -> bool:
        """Whether ``schema`` may become ``subject``'s next version."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        sub = urllib.parse.quote(subject, safe="")
        got = self._call("POST", f"/compatibility/subjects/{sub}/versions/latest", {"schema": text})
        return bool(got.get("is_compatible"))

    def schema(self, schema_id: int) -> str:
        """The schema text registered with ``schema_id``.

        Raises:
            SchemaNotFound: no such id.
            ValueError: the schema is not Avro.
            RegistryRefused: refused (e.g. 401/403).
            RegistryUnavailable: no answer.
        """
        got = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        if got.get("schemaType", "AVRO") != "AVRO":
            raise ValueError(f"schema {schema_id} is {got.get('schemaType')}, not AVRO")
        return str(got["schema"])

    def subjects(self, schema_id: int) -> list[str]:
        """Every subject ``schema_id`` is registered under."""
        return [str(s) for s in self._call("GET", f"/schemas/ids/{int(schema_id)}/subjects")]
