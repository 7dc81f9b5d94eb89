"""The notifier as one more loop of ``sluice run`` (when ``SLUICE_NOTIFY_FILE`` is set).

It keeps its own consumer group and producer, so inside the worker process it still
never holds up the gate's transactions; a separate ``sluice notify`` deployment is the
same code.
"""

from __future__ import annotations

import asyncio

from sluice.codec import Codec
from sluice.errors import ConfigError
from sluice.metrics import Metrics
from sluice.notify.config import load_notify_config
from sluice.notify.service import Notifier
from sluice.notify.sinks import make_sink
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = ["NotifyStage"]


class NotifyStage:
    """Adapts :class:`Notifier` to the worker's agent interface (start, run, stop)."""

    name = "notify"

    def __init__(self, settings: Settings, codec: Codec, metrics: Metrics, topics: Topics) -> None:
        if settings.notify_file is None:
            raise ConfigError("SLUICE_NOTIFY_FILE is not set")
        cfg = load_notify_config(settings.notify_file, settings.console_url)
        sinks = [make_sink(s) for s in cfg.sinks]
        self.notifier = Notifier(settings, cfg, sinks, codec, metrics, topics)
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Nothing to start before :meth:`run` (it opens its own clients)."""

    async def run(self) -> None:
        """Deliver until :meth:`request_stop`."""
        await self.notifier.run(self._stop)

    def request_stop(self) -> None:
        """Finish the current record, then return from :meth:`run`."""
        self._stop.set()

    async def stop(self) -> None:
        """Nothing left to close once :meth:`run` returned."""
