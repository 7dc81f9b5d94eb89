"""The codec with a schema registry: reads both framings, writes the operator's choice.

With ``SLUICE_SCHEMA_REGISTRY_URL`` set the worker builds a :class:`RegistryCodec`
(:func:`codec_for`). It decodes Confluent-framed records (``0x00`` + schema id) as well
as single-object ones: the writer schema comes from the registry by id (cached in a
bounded LRU, so the per-event cost is a dict lookup) and is resolved into sluice's
current reader schema by fastavro, exactly as the single-object path resolves a
history schema. ``Outcome`` records (the approved / rejected topics, what downstream
consumers read) are written in ``SLUICE_OUTPUT_FRAMING``; every internal record
(held events, audit, DLQ, the event embedded in an outcome) stays single-object, so
sluice's own stages and CLI read them as before and content hashes do not change.

Failure handling, by cause:

* schema id unknown to the registry (404) → DLQ ``unknown_schema_id`` (the miss is
  remembered for :data:`NEGATIVE_TTL_S`, so a flood of bad ids does not flood the registry);
* id registered only under other subjects than the topic's (per the subject strategy),
  → DLQ ``schema_wrong_subject``; a schema of another record name, or one that does not
  resolve into the reader → DLQ ``wrong_schema``;
* registry down (refused, timeout, 5xx) → :class:`RegistryUnavailable`. The intake
  resolves a batch's unknown ids *before* routing it (:func:`resolve_batch`, in a
  thread); when the registry is down it waits a growing backoff (0.25 s doubling to
  5 s, well inside the transaction timeout) and raises, so the stage aborts the
  transaction and redoes the batch (``Stage._transact``): records wait, none is
  dead-lettered, the worker does not crash, and ids already cached keep flowing.
  At start, :func:`ready` registers the output schemas, retrying the same way.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from sluice.codec.avro import Codec, default_codec, read_body
from sluice.codec.registry import (
    COMPATIBILITY,
    CONFLUENT_MAGIC,
    LRU,
    RegistryClient,
    RegistryRefused,
    RegistryUnavailable,
    SchemaNotFound,
    SubjectStrategy,
    frame_confluent,
    subject_name,
)
from sluice.errors import ConfigError, DecodeError, ErrorCode
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = ["NEGATIVE_TTL_S", "RegistryCodec", "codec_for", "ready", "resolve_batch"]

log = logging.getLogger(__name__)

#: How long an id the registry did not know stays "unknown" before it is asked again.
NEGATIVE_TTL_S = 30.0
#: Record names written in the operator's framing (the rest stay single-object).
FRAMED = frozenset({"Outcome"})
_NAMESPACE = "sluice.v1"


def _base_types(node: Any) -> Any:
    """The schema with logical types dropped (read as their base types, like avro.py)."""
    if isinstance(node, list):
        return [_base_types(n) for n in node]
    if isinstance(node, dict):
        if "logicalType" in node and isinstance(node.get("type"), str):
            rest = {k: v for k, v in node.items() if k != "logicalType"}
            return node["type"] if len(rest) == 1 else rest
        return {k: _base_types(v) for k, v in node.items()}
    return node


class _Writer:
    """A registry schema, parsed: its record name, subjects, and whether it is current."""

    __slots__ = ("name", "parsed", "same_as_reader", "subjects")

    def __init__(self, name: str, parsed: Any, same_as_reader: bool, subjects: list[str]) -> None:
        self.name = name
        self.parsed = parsed
        self.same_as_reader = same_as_reader
        self.subjects = frozenset(subjects)


class RegistryCodec(Codec):
    """A :class:`Codec` that also reads Confluent framing and writes outcomes framed.

    Args:
        client: the registry client.
        topics: topic names (subjects derive from them).
        strategy: subject naming strategy.
        output_framing: ``single-object`` or ``confluent`` for ``Outcome`` records.
        cache_size: schema ids kept parsed (LRU).
    """

    def __init__(
        self,
        client: RegistryClient,
        topics: Topics,
        *,
        strategy: SubjectStrategy = "topic",
        output_framing: str = "single-object",
        cache_size: int = 1024,
    ) -> None:
        super().__init__()
        self.client = client
        self.topics = topics
        self.strategy: SubjectStrategy = strategy
        self.output_framing = output_framing
        self._writers = LRU(cache_size)
        self._unknown: dict[int, float] = {}
        self._out_ids: dict[str, int] = {}
        self._failures = 0
        self._reader_canonical = {
            n: to_parsing_canonical_form(self.schema(n)) for n in self.names()
        }
        self._readers = {
            n: fastavro.parse_schema(_base_types(self.schema(n))) for n in self.names()
        }
        #: Input subjects a record name must be registered under (per strategy).
        self.input_subjects = {
            "WorkflowEvent": self.subject(topics.events, "WorkflowEvent"),
            "Decision": self.subject(topics.decisions, "Decision"),
        }

    def subject(self, topic: str, name: str) -> str:
        """The subject of record ``name`` on ``topic`` under this codec's strategy."""
        return subject_name(self.strategy, topic, f"{_NAMESPACE}.{name}")

    # -- registry -----------------------------------------------------------------

    def register_outputs(self) -> dict[str, int]:
        """Register (idempotently) the input and output schemas, BACKWARD; returns ids.

        Raises:
            RegistryUnavailable: no answer (retry).
            ValueError: the registry refused a schema (incompatible with what is there).
        """
        plan = [
            (self.topics.events, "WorkflowEvent"),
            (self.topics.approved, "Outcome"),
            (self.topics.rejected, "Outcome"),
        ]
        ids: dict[str, int] = {}
        for topic, name in plan:
            subject = self.subject(topic, name)
            self.client.set_compatibility(subject, COMPATIBILITY)
            sid = self.client.register(subject, self.schema(name))
            if name in FRAMED:
                if name in ids and ids[name] != sid:
                    # Standard deserializers resolve by id alone, so either id reads;
                    # the first one is used for both topics.
                    log.warning(
                        "registry gave one schema two ids",
                        extra={"record": name, "ids": [ids[name], sid]},
                    )
                ids.setdefault(name, sid)
        self._out_ids.update(ids)
        return ids

    def _fetch(self, schema_id: int) -> _Writer | None:
        """Ask the registry for ``schema_id`` (None: it does not exist). Any thread.

        A schema that is not Avro, or not parseable, comes back as a writer no record
        name matches (its records go to the DLQ as ``wrong_schema``); only a registry
        that does not answer (or refuses access: an operator matter) raises, so that
        no schema content can make the intake retry forever.
        """
        try:
            text = self.client.schema(schema_id)
            subjects = self.client.subjects(schema_id)
        except SchemaNotFound:
            return None
        except RegistryRefused as exc:
            raise RegistryUnavailable(str(exc)) from None
        except ValueError:
            return _Writer("(not Avro)", None, False, [])
        try:
            raw = json.loads(text)
            name = raw.get("name", "") if isinstance(raw, dict) else ""
            ns = raw.get("namespace", "") if isinstance(raw, dict) else ""
            full = name if "." in name else f"{ns}.{name}" if ns else name
            short = full.rsplit(".", 1)[-1] if full.startswith(f"{_NAMESPACE}.") else ""
            canonical = to_parsing_canonical_form(raw)
            same = self._reader_canonical.get(short) == canonical
            parsed = self._readers[short] if same else fastavro.parse_schema(_base_types(raw))
        except Exception:  # any text the registry holds; none may stall the intake
            return _Writer("(unparseable)", None, False, subjects)
        return _Writer(short or full or "(unnamed)", parsed, same, subjects)

    def _remember(self, schema_id: int, writer: _Writer | None) -> None:
        if writer is None:
            self._unknown[schema_id] = time.monotonic() + NEGATIVE_TTL_S
        else:
            self._unknown.pop(schema_id, None)
            self._writers.put(schema_id, writer)

    def missing(self, schema_id: int) -> bool:
        """Whether ``schema_id`` must be asked for (not cached, not recently unknown)."""
        if schema_id in self._writers:
            return False
        until = self._unknown.get(schema_id)
        return until is None or until < time.monotonic()

    def writer(self, schema_id: int) -> _Writer | None:
        """The cached writer schema of ``schema_id``, fetching it on a miss (blocking)."""
        w = self._writers.get(schema_id)
        if w is None and self.missing(schema_id):
            w = self._fetch(schema_id)
            self._remember(schema_id, w)
        return w

    # -- decode / encode ---------------------------------------------------------------

    def decode(self, name: str, data: bytes) -> dict[str, Any]:
        """Decode either framing into the current ``name`` schema (see the module doc)."""
        if data[:1] != CONFLUENT_MAGIC:
            return super().decode(name, data)
        if len(data) < 5:
            raise DecodeError(ErrorCode.TRUNCATED, "shorter than the 5-byte Confluent header")
        sid = int.from_bytes(data[1:5], "big")
        w = self.writer(sid)
        if w is None:
            raise DecodeError(ErrorCode.UNKNOWN_SCHEMA_ID, f"schema id {sid} is not registered")
        if w.parsed is None:
            raise DecodeError(ErrorCode.WRONG_SCHEMA, f"schema id {sid} is {w.name}")
        expected = self.input_subjects.get(name)
        if expected is not None and expected not in w.subjects:
            raise DecodeError(
                ErrorCode.SCHEMA_WRONG_SUBJECT,
                f"schema id {sid} is not registered under subject {expected}",
            )
        if w.name != name:
            raise DecodeError(ErrorCode.WRONG_SCHEMA, f"writer schema is {w.name}, expected {name}")
        reader = None if w.same_as_reader else self._readers[name]
        return read_body(
            data[5:], w.parsed, reader, unresolvable=f"schema id {sid} does not resolve into {name}"
        )

    def writer_name(self, data: bytes) -> str:
        """The record name ``data`` was written with (either framing)."""
        if data[:1] != CONFLUENT_MAGIC:
            return super().writer_name(data)
        if len(data) < 5:
            raise DecodeError(ErrorCode.TRUNCATED, "shorter than the 5-byte Confluent header")
        sid = int.from_bytes(data[1:5], "big")
        w = self.writer(sid)
        if w is None:
            raise DecodeError(ErrorCode.UNKNOWN_SCHEMA_ID, f"schema id {sid} is not registered")
        return w.name

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode ``record``; ``Outcome`` in the output framing, the rest single-object."""
        if self.output_framing != "confluent" or name not in FRAMED:
            return super().encode(name, record)
        sid = self._out_ids.get(name)
        if sid is None:
            # ready() registers the output schemas before any stage runs.
            raise RegistryUnavailable(f"no schema id for {name} yet (registry not reached)")
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self._readers[name], record)
        return frame_confluent(sid, buf.getvalue())

    # -- async helpers for the worker ----------------------------------------------------

    async def resolve(self, ids: Iterable[int]) -> None:
        """Fetch every id of ``ids`` not cached yet, off the event loop.

        Raises:
            RegistryUnavailable: after a growing backoff, so the caller redoes its batch.
        """
        todo = [i for i in dict.fromkeys(ids) if self.missing(i)]
        if not todo:
            return
        try:
            got = await asyncio.to_thread(lambda: [(i, self._fetch(i)) for i in todo])
        except RegistryUnavailable as exc:
            await self.back_off(exc)
            raise
        self._failures = 0
        for i, w in got:
            self._remember(i, w)

    async def back_off(self, exc: Exception) -> None:
        """Wait a growing delay after a registry failure (0.25 s doubling, capped at 5 s)."""
        self._failures += 1
        delay = min(5.0, 0.25 * 2 ** (self._failures - 1))
        log.warning(
            "schema registry unavailable; batch will be retried",
            extra={"error": str(exc)[:200], "attempt": self._failures, "backoff_s": delay},
        )
        await asyncio.sleep(delay)


async def resolve_batch(codec: Codec, batch: dict[Any, list[Any]]) -> None:
    """Resolve the Confluent schema ids of a consumer batch before it is routed.

    A no-op for a plain :class:`Codec`. Raises :class:`RegistryUnavailable` (after a
    backoff) when the registry is down: the stage aborts and redoes the batch.
    """
    if not isinstance(codec, RegistryCodec):
        return
    ids = [
        int.from_bytes(v[1:5], "big")
        for recs in batch.values()
        for rec in recs
        if (v := rec.value) is not None and len(v) >= 5 and v[:1] == CONFLUENT_MAGIC
    ]
    if ids:
        await codec.resolve(ids)


async def ready(codec: Codec, stop: asyncio.Event | None = None) -> None:
    """Register the schemas of a :class:`RegistryCodec`, retrying until the registry answers.

    Raises:
        ConfigError: the registry refused a schema (e.g. incompatible with its subject).
    """
    if not isinstance(codec, RegistryCodec):
        return
    while stop is None or not stop.is_set():
        try:
            ids = await asyncio.to_thread(codec.register_outputs)
        except RegistryUnavailable as exc:
            await codec.back_off(exc)
            continue
        except RegistryRefused as exc:
            raise ConfigError(f"schema registry refused sluice's schemas: {exc}") from None
        log.info("schemas registered", extra={"ids": ids, "framing": codec.output_framing})
        return


@functools.cache
def _registry_codec(url: str, timeout: float, topics: Topics, strategy: str, out: str) -> Codec:
    client = RegistryClient(url, timeout)
    return RegistryCodec(client, topics, strategy=strategy, output_framing=out)  # type: ignore[arg-type]


def codec_for(settings: Settings, topics: Topics | None = None) -> Codec:
    """The process's codec: :func:`default_codec` without a registry URL, else a
    :class:`RegistryCodec` (one per registry/prefix, shared by every stage).

    Raises:
        ConfigError: confluent output framing without a registry URL, or a bad URL.
    """
    if not settings.schema_registry_url:
        if settings.output_framing == "confluent":
            raise ConfigError("SLUICE_OUTPUT_FRAMING=confluent needs SLUICE_SCHEMA_REGISTRY_URL")
        return default_codec()
    try:
        return _registry_codec(
            settings.schema_registry_url,
            settings.schema_registry_timeout_seconds,
            topics or Topics.with_prefix(settings.topic_prefix),
            settings.schema_registry_subject_strategy,
            settings.output_framing,
        )
    except ValueError as exc:
        raise ConfigError(f"SLUICE_SCHEMA_REGISTRY_URL: {exc}") from None
