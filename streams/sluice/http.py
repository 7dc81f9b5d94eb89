"""The worker's HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.

Runs inside the worker's event loop (aiohttp), so health reflects the loop itself:
if the loop is stuck, the probes time out. ``/metrics`` is prometheus_client's own
aiohttp handler: it negotiates OpenMetrics from the ``Accept`` header, compresses when
the scraper accepts gzip, and honours ``name[]=`` filters.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

__all__ = ["Health", "MetricsServer"]

log = logging.getLogger(__name__)


@dataclass
class Health:
    """What the probes report. Stages update it; the server only reads it."""

    #: stage name → True once it has partitions assigned and has caught up once.
    ready: dict[str, bool] = field(default_factory=dict)
    #: stage name → monotonic time of its last loop iteration.
    heartbeat: dict[str, float] = field(default_factory=dict)
    #: a stage whose loop has not turned for this long is unhealthy.
    stall_after_s: float = 60.0

    def beat(self, stage: str) -> None:
        """Record that ``stage``'s loop is turning."""
        self.heartbeat[stage] = time.monotonic()

    def healthy(self) -> tuple[bool, dict[str, float]]:
        """(all stages turning, seconds since each one's last beat)."""
        now = time.monotonic()
        ages = {k: round(now - v, 3) for k, v in self.heartbeat.items()}
        return all(a < self.stall_after_s for a in ages.values()), ages


class MetricsServer:
    """Serves ``registry`` and ``health`` on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int) -> None:
        self._registry = registry
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Bind and serve; sets :attr:`port`."""
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(self._registry))
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes no public bound port
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self._port
        log.info("metrics endpoint up", extra={"port": self.port})

    async def stop(self) -> None:
        """Stop serving; safe twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, ages = self._health.healthy()
        return web.json_response({"ok": ok, "last_beat_s": ages}, status=200 if ok else 503)

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = bool(self._health.ready) and all(self._health.ready.values())
        return web.json_response(
            {"ready": ready, "stages": self._health.ready}, status=200 if ready else 503
        )
