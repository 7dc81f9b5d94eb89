"""Key material written as text: strict base64 of an exact number of raw bytes.

One decoder for every key file and registry (reviewer public and private keys,
producer public keys and Ed25519 seeds), so they refuse the same malformed text with
the same one-line reasons, which name the field and never echo the text.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = ["decode_b64_key"]


def decode_b64_key(text: Any, n: int, what: str) -> bytes:
    """``n`` raw key bytes from standard base64 text (surrounding whitespace ignored).

    Raises:
        ValueError: not a string, not base64, or not ``n`` bytes (names ``what``, never
            the text).
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(raw) != n:
        raise ValueError(f"{what} must be {n} bytes, got {len(raw)}")
    return raw
