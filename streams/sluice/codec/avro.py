"""Avro single-object encoding (``C3 01`` + 8-byte CRC-64-AVRO fingerprint, little-endian).

Every schema in ``schemas/`` (and ``schemas/history/``, the superseded versions) is
parsed once. Decoding looks the writer schema up by fingerprint and resolves it into
the current reader schema of the same record name, so events written by older
upstream services still decode. Pure bytes ⇄ dict: no I/O beyond loading schemas.
"""

from __future__ import annotations

import functools
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint, to_parsing_canonical_form

from sluice.errors import DecodeError, ErrorCode

__all__ = ["MAGIC", "Codec", "default_codec", "schema_dir", "schema_fingerprint"]

MAGIC = b"\xc3\x01"
_HEADER_LEN = 10


def schema_fingerprint(canonical: str) -> bytes:
    """The CRC-64-AVRO (Rabin) fingerprint of a schema's Parsing Canonical Form, as the
    8 little-endian bytes the single-object header carries (fastavro's implementation)."""
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def schema_dir() -> Path:
    """Where the ``.avsc`` files are: inside the installed wheel, else the repo's ``schemas/``."""
    packaged = resources.files("sluice") / "_schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[3] / "schemas"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("sluice schemas not found (neither sluice/_schemas nor ./schemas)")


def _inline(node: Any, named: dict[str, Any], seen: set[str]) -> Any:
    """Replace references to ``named`` types by their definition (first use only)."""
    if isinstance(node, str):
        if node in named and node not in seen:
            seen.add(node)
            return _inline(named[node], named, seen)
        return node
    if isinstance(node, list):
        return [_inline(n, named, seen) for n in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            ns = node.get("namespace", "sluice.v1")
            seen.add(node["name"] if "." in node["name"] else f"{ns}.{node['name']}")
        return {
            k: (_inline(v, named, seen) if k in ("type", "items", "values", "fields") else v)
            for k, v in node.items()
        }
    return node


def _strip_logical(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_logical(n) for n in node]
    if isinstance(node, dict):
        if "logicalType" in node and isinstance(node.get("type"), str):
            return (
                node["type"]
                if len(node) <= 2
                else {k: v for k, v in node.items() if k != "logicalType"}
            )
        return {k: _strip_logical(v) for k, v in node.items()}
    return node


def read_body(
    body: bytes, writer: Any, reader: Any | None, *, unresolvable: str | None = None
) -> dict[str, Any]:
    """Decode one Avro ``body`` written with ``writer`` (into ``reader`` if given).

    Every failure is a ``DecodeError`` with a code; fastavro raises many exception types
    on garbage and none may escape a stage. ``unresolvable`` is the message for a writer
    schema that does not resolve into the reader (the registry path names the id).
    """
    buf = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buf, writer, reader)
    except SchemaResolutionError:
        if unresolvable is None:
            raise DecodeError(
                ErrorCode.MALFORMED_AVRO, "cannot decode Avro body (SchemaResolutionError)"
            ) from None
        raise DecodeError(ErrorCode.WRONG_SCHEMA, unresolvable) from None
    except (EOFError, StopIteration):
        raise DecodeError(ErrorCode.TRUNCATED, "record ends early") from None
    except UnicodeDecodeError:
        raise DecodeError(ErrorCode.INVALID_UTF8, "a string is not valid UTF-8") from None
    except MemoryError:
        raise DecodeError(ErrorCode.MALFORMED_AVRO, "length prefix too large") from None
    except Exception as exc:  # fastavro raises many types on garbage; none may escape
        raise DecodeError(
            ErrorCode.MALFORMED_AVRO, f"cannot decode Avro body ({type(exc).__name__})"
        ) from None
    if buf.tell() != len(body):
        raise DecodeError(
            ErrorCode.TRAILING_BYTES, f"{len(body) - buf.tell()} bytes after the record"
        )
    if not isinstance(record, dict):
        raise DecodeError(ErrorCode.MALFORMED_AVRO, "not a record")
    return record


class _Entry:
    __slots__ = ("fingerprint", "name", "parsed", "raw")

    def __init__(self, name: str, raw: dict[str, Any], parsed: Any, fingerprint: bytes) -> None:
        self.name = name
        self.raw = raw
        self.parsed = parsed
        self.fingerprint = fingerprint


class Codec:
    """Encodes and decodes sluice records; one instance is shared and thread-safe.

    Args:
        directory: folder with current ``*.avsc`` files and a ``history/`` subfolder.
    """

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or schema_dir()
        self._named: dict[str, Any] = {}
        self._current: dict[str, _Entry] = {}
        self._by_fp: dict[bytes, _Entry] = {}
        # Finding is referenced by name from HeldEvent and Outcome: parse it first.
        files = sorted(directory.glob("*.avsc"), key=lambda p: (p.stem != "Finding", p.stem))
        for path in files:
            entry = self._load(path)
            self._current[entry.name] = entry
            self._named[f"sluice.v1.{entry.name}"] = entry.raw
        history = directory / "history"
        for path in sorted(history.glob("*.avsc")) if history.is_dir() else []:
            self._load(path)

    def _load(self, path: Path) -> _Entry:
        raw = json.loads(path.read_text(encoding="utf-8"))
        # Shared types (Finding) are referenced by name in the files; inline them so
        # each schema is self-contained and its canonical form (and fingerprint) too.
        raw = _inline(raw, self._named, set())
        # Logical types are read as their base types (ms since epoch, UUID strings):
        # cheaper on the hot path, and the canonical form ignores them anyway.
        parsed = fastavro.parse_schema(_strip_logical(raw))
        fp = schema_fingerprint(to_parsing_canonical_form(raw))
        name = raw["name"] if "." in raw["name"] else f"{raw['namespace']}.{raw['name']}"
        entry = _Entry(name.rsplit(".", 1)[-1], raw, parsed, fp)
        self._by_fp[fp] = entry
        return entry

    # -- introspection ------------------------------------------------------------

    def names(self) -> list[str]:
        """Record names with a current schema (``WorkflowEvent``, ``Decision``, ...)."""
        return sorted(self._current)

    def schema(self, name: str) -> dict[str, Any]:
        """The current schema of ``name`` as JSON (with custom attributes)."""
        return self._current[name].raw

    def fingerprint(self, name: str) -> bytes:
        """The 8-byte little-endian CRC-64-AVRO fingerprint of the current ``name`` schema."""
        return self._current[name].fingerprint

    def known_fingerprints(self) -> dict[bytes, str]:
        """Every loadable fingerprint (current and history) → record name."""
        return {fp: e.name for fp, e in self._by_fp.items()}

    # -- encode / decode ---------------------------------------------------------

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode ``record`` with the current ``name`` schema, single-object framed.

        Raises:
            ValueError / TypeError: the record does not fit the schema (fastavro's).
        """
        entry = self._current[name]
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(entry.fingerprint)
        fastavro.schemaless_writer(buf, entry.parsed, record)
        return buf.getvalue()

    def decode(self, name: str, data: bytes) -> dict[str, Any]:
        """Decode single-object ``data`` into the current ``name`` schema.

        Raises:
            DecodeError: with code bad_magic, unknown_fingerprint, wrong_schema,
                truncated, trailing_bytes, invalid_utf8 or malformed_avro.
        """
        entry, body = self.split(data)
        reader = self._current.get(name)
        if reader is None or entry.name != name:
            raise DecodeError(
                ErrorCode.WRONG_SCHEMA,
                f"writer schema is {entry.name}, expected {name}",
            )
        return read_body(body, entry.parsed, None if entry is reader else reader.parsed)

    def split(self, data: bytes) -> tuple[_Entry, bytes]:
        """Check the header; return the writer schema entry and the Avro body."""
        if len(data) < _HEADER_LEN:
            if data[:2] != MAGIC[: len(data[:2])]:
                raise DecodeError(ErrorCode.BAD_MAGIC, "not Avro single-object encoding")
            raise DecodeError(ErrorCode.TRUNCATED, "shorter than the 10-byte header")
        if data[:2] != MAGIC:
            raise DecodeError(ErrorCode.BAD_MAGIC, "not Avro single-object encoding")
        fp = bytes(data[2:_HEADER_LEN])
        entry = self._by_fp.get(fp)
        if entry is None:
            raise DecodeError(
                ErrorCode.UNKNOWN_FINGERPRINT, f"unknown writer schema fingerprint {fp.hex()}"
            )
        return entry, bytes(data[_HEADER_LEN:])

    def writer_name(self, data: bytes) -> str:
        """The record name of the schema ``data`` was written with.

        Raises:
            DecodeError: bad header or unknown fingerprint.
        """
        return self.split(data)[0].name

    def decode_any(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode whatever sluice record ``data`` holds; returns (name, record)."""
        name = self.writer_name(data)
        return name, self.decode(name, data)


@functools.cache
def default_codec() -> Codec:
    """The process-wide codec over the shipped schemas."""
    return Codec()
