"""The ``sluice.producer.v1`` wire format: header names, signed bytes, key ids.

Shared by the intake side (:mod:`sluice.producers.registry`) and the producer side
(:mod:`sluice.producers.signer`); the format itself is described in
:mod:`sluice.producers`.
"""

from __future__ import annotations

import re
import struct
from typing import Literal

__all__ = [
    "ALGORITHMS",
    "DOMAIN_TAG",
    "HEADER_KEY",
    "HEADER_SIG",
    "KEY_FILE_FORMAT",
    "KEY_ID",
    "MIN_SECRET_BYTES",
    "TAG_LEN",
    "Algorithm",
    "signing_bytes",
    "signing_prefix",
]

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
#: Tag length in bytes per algorithm.
TAG_LEN = {"hmac-sha256": 32, "ed25519": 64}
#: Shortest HMAC secret accepted.
MIN_SECRET_BYTES = 32
#: What a key id may be.
KEY_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_U32 = struct.Struct(">I")


def signing_bytes(key_id: str, topic: str, key: bytes | None, value: bytes) -> bytes:
    """The bytes a producer MACs or signs (``sluice.producer.v1``, :mod:`sluice.producers`)."""
    return signing_prefix(key_id, topic, key) + value


def signing_prefix(key_id: str, topic: str, key: bytes | None) -> bytes:
    """Everything :func:`signing_bytes` puts before the value."""
    kid = key_id.encode()
    top = topic.encode()
    k = b"\x00" if key is None else b"\x01" + _U32.pack(len(key)) + key
    return b"".join((DOMAIN_TAG, _U32.pack(len(kid)), kid, _U32.pack(len(top)), top, k))
