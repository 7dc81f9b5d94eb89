"""Fetched record batches that a hostile header name cannot turn into poison.

aiokafka (0.14) decodes record header *names* as strict UTF-8 while a consumer drains
a fetch. Kafka stores any bytes there, so one record whose header name is not UTF-8
makes every ``getmany`` on its partition raise ``UnicodeDecodeError``: intake stops
at that offset for good, and any client with write access can send such a record.

:func:`install` replaces the ``MemoryRecords`` the fetcher builds with one whose v2
batches parse as before (aiokafka's C parser) and, only when that raises
``UnicodeDecodeError``, re-parse that one batch with aiokafka's Python parser reading
header names with ``surrogateescape``. The record then reaches intake like any other;
its odd header name matches no sluice header (with producer authentication on it is
``producer_unsigned``; off, headers are not read). Installed once per process, on
import of :mod:`sluice.kafka`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.record import default_records as _dr
from aiokafka.record.memory_records import _MemoryRecordsPy

__all__ = ["TolerantMemoryRecords", "install"]

log = logging.getLogger(__name__)

_MAGIC_OFFSET = 16
_V2_HEADER = _dr._DefaultRecordBatchPy.HEADER_STRUCT.size  # noqa: SLF001


class _EscapingSlice(bytes):
    """A slice whose ``decode`` never raises (undecodable bytes → lone surrogates)."""

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes.decode(self, encoding, "surrogateescape")


class _EscapingBuffer(bytearray):
    def __getitem__(self, index: Any) -> Any:
        item = bytearray.__getitem__(self, index)
        return _EscapingSlice(item) if isinstance(index, slice) else item


class _EscapingBatch(_dr._DefaultRecordBatchPy):  # noqa: SLF001 - the parser to reuse
    """aiokafka's Python v2 batch parser, header names read with surrogateescape."""

    def _maybe_uncompress(self) -> None:
        super()._maybe_uncompress()
        buffer: bytearray = self._buffer  # type: ignore[has-type]
        if not isinstance(buffer, _EscapingBuffer):
            self._buffer = _EscapingBuffer(buffer)


class _Batch:
    """A v2 batch: the C parser, falling back to :class:`_EscapingBatch` for this batch."""

    __slots__ = ("_batch", "_data", "_records")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._batch = _dr.DefaultRecordBatch(data)
        self._records: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        return bool(self._batch.validate_crc())

    def __iter__(self) -> _Batch:
        return self

    def __next__(self) -> Any:
        if self._records is None:
            try:
                records = list(self._batch)
            except UnicodeDecodeError:
                log.warning(
                    "record batch with a non-UTF-8 header name; read with escapes",
                    extra={"base_offset": self._batch.base_offset},
                )
                records = list(_EscapingBatch(self._data))
            self._records = iter(records)
        return next(self._records)


class TolerantMemoryRecords(_MemoryRecordsPy):
    """aiokafka's MemoryRecords whose v2 batches are :class:`_Batch`."""

    def next_batch(self, *args: Any, **kwargs: Any) -> Any:
        upcoming = self._next_slice
        if upcoming is not None and len(upcoming) >= _V2_HEADER:
            if upcoming[_MAGIC_OFFSET] >= 2:
                self._cache_next()
                return _Batch(bytes(upcoming))
        return super().next_batch(*args, **kwargs)


def install() -> None:
    """Make aiokafka's fetcher build :class:`TolerantMemoryRecords` (idempotent)."""
    from aiokafka.consumer import fetcher

    if fetcher.MemoryRecords is not TolerantMemoryRecords:
        fetcher.MemoryRecords = TolerantMemoryRecords
