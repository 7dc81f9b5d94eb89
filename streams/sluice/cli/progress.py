"""A one-line progress display on stderr for long commands (audit verify, trace,
review list, bench, chaos soak).

The domain code knows nothing of it: it accepts an ``on_progress(k)`` callback and
calls it with the number of records handled since its last call; a :class:`Progress`
is such a callback. The line (records, rate, elapsed) is rewritten in place with
``\\r`` at most a few times a second, and only when stderr is a terminal and the
command is not printing ``--json``: piped output, logs and scripts see nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "progress"]


class Progress:
    """Counts records and redraws one status line on ``stream`` when enabled.

    Args:
        label: what is being counted, e.g. ``"reading workflow.audit"``.
        stream: where the line goes (default: stderr).
        enabled: draw at all; None: only when ``stream`` is a TTY.
        interval_s: the least time between two redraws.
        clock: monotonic seconds (a parameter for tests).
    """

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.count = 0
        self._stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self._stream, "isatty", None)
            enabled = bool(isatty()) if callable(isatty) else False
        self.enabled = enabled
        self._interval = interval_s
        self._clock = clock
        self._t0 = clock()
        self._last = self._t0
        self._width = 0

    def __call__(self, k: int = 1) -> None:
        """Add ``k`` records; redraw if the line is due."""
        self.count += k
        if self.enabled:
            now = self._clock()
            if now - self._last >= self._interval:
                self._last = now
                self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The status text: label, records, rate, elapsed."""
        elapsed = (self._clock() if now is None else now) - self._t0
        rate = self.count / elapsed if elapsed > 0 else 0.0
        return f"{self.label}: {self.count:,} records  {rate:,.0f}/s  {elapsed:.1f}s"

    def _draw(self, now: float) -> None:
        text = self.line(now)
        # Pad over a longer previous line so no stale characters remain.
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()

    def close(self) -> None:
        """Draw the final count and end the line (nothing when disabled)."""
        if self.enabled:
            self._draw(self._clock())
            self._stream.write("\n")
            self._stream.flush()
            self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def progress(label: str, *, json_out: bool = False, stream: TextIO | None = None) -> Progress:
    """The progress line for a command: off with ``--json`` or when ``stream`` (stderr)
    is not a terminal."""
    return Progress(label, stream=stream, enabled=False if json_out else None)
