"""The one wall clock the runtime reads (milliseconds since the epoch).

Kept in its own module so tests and the gate's pure code can be handed a clock
instead of reading this one.
"""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Wall clock in whole milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000
