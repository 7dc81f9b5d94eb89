"""Which Kafka headers of an input record are carried to the records that derive from it.

Every output of an event (its approved or rejected ``Outcome``, its ``HeldEvent`` on
``workflow.approvals`` and, through the gate, the released or rejected ``Outcome``, and
its ``DeadLetter``) carries :func:`carry` of the input record's headers, so W3C trace
context (``traceparent``, ``tracestate``), CloudEvents Kafka binding headers (``ce_*``)
and the producer's own headers reach the consumers of the outputs.

Deny-list (never carried; names compared case-insensitively):

- the producer authentication headers ``sluice-producer-key`` and
  ``sluice-producer-sig`` (:mod:`sluice.producers.wire`): a signature binds one topic;
- ``authorization``, ``proxy-authorization``, ``cookie``, ``set-cookie``, ``x-api-key``;
- any name containing ``secret``, ``token``, ``password``, ``passwd``, ``api-key`` or
  ``apikey`` (``x-auth-token``, ``client_secret``, ...).

Also dropped: names that are not UTF-8 (aiokafka decodes names; a name that is not a
``str`` is dropped), empty names, headers with no value. Bounds: at most
:data:`MAX_HEADERS` headers and :data:`MAX_BYTES` bytes (names plus values) are carried,
in input order; ``traceparent``, ``tracestate`` and ``ce_*`` come first so the bound
never drops trace context for a bulkier header. Anything beyond is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DENIED", "DENIED_PARTS", "MAX_BYTES", "MAX_HEADERS", "Headers", "carry"]

#: What :func:`carry` returns: aiokafka's ``headers=`` shape.
Headers = list[tuple[str, bytes]]

#: At most this many headers are carried.
MAX_HEADERS = 32
#: At most this many bytes (UTF-8 names plus values) are carried.
MAX_BYTES = 8 * 1024

#: Header names (lower case) never carried.
DENIED: frozenset[str] = frozenset(
    {
        "sluice-producer-key",
        "sluice-producer-sig",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
    }
)
#: A header name (lower case) containing one of these is never carried.
DENIED_PARTS: tuple[str, ...] = ("secret", "token", "password", "passwd", "api-key", "apikey")

_TRACE = ("traceparent", "tracestate")


def _denied(lower: str) -> bool:
    return lower in DENIED or any(p in lower for p in DENIED_PARTS)


def _priority(lower: str) -> bool:
    return lower in _TRACE or lower.startswith("ce_")


def carry(headers: Sequence[tuple[object, bytes | None]] | None) -> Headers:
    """The headers of ``headers`` an output record carries (see the module docstring).

    Never raises: a malformed item is dropped like a denied one.
    """
    if not headers:
        return []
    first: Headers = []
    rest: Headers = []
    for item in headers:
        if not isinstance(item, tuple) or len(item) != 2:
            continue
        name, value = item
        if not isinstance(name, str) or not name or value is None:
            continue
        if isinstance(value, bytearray | memoryview):
            value = bytes(value)
        if not isinstance(value, bytes):
            continue
        try:
            name.encode("utf-8")  # lone surrogates (undecodable bytes) are not UTF-8
        except UnicodeEncodeError:
            continue
        lower = name.lower()
        if _denied(lower):
            continue
        (first if _priority(lower) else rest).append((name, value))
    out: Headers = []
    size = 0
    for name, value in first + rest:
        if len(out) >= MAX_HEADERS:
            break
        n = len(name.encode("utf-8")) + len(value)
        if size + n > MAX_BYTES:
            continue  # a smaller one later may still fit
        size += n
        out.append((name, value))
    return out
