"""Run the console until interrupted (what ``sluice console`` calls)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sluice.errors import ConfigError

if TYPE_CHECKING:
    from sluice.settings import Settings

__all__ = ["login_url", "serve"]

log = logging.getLogger(__name__)


def login_url(host: str, port: int, token: str | None) -> str:
    """The URL to open (with the login token in token mode)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    reviewers_file: str | None,
    proxy_header: str | None,
    proxies: str | None,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the console on ``host:port`` until Ctrl-C.

    Raises:
        ConfigError: a proxy header without proxies (or the reverse), or a bad address.
    """
    from aiohttp import web

    from sluice.console.app import ConsoleConfig, build_app
    from sluice.console.security import Access, parse_proxies
    from sluice.topics import Topics

    if bool(proxy_header) != bool(proxies):
        raise ConfigError("--trusted-proxy-header and --trusted-proxies go together")
    try:
        trusted = parse_proxies(proxies)
    except ValueError as exc:
        raise ConfigError(f"--trusted-proxies: {exc}") from None
    access = Access(proxy_header=proxy_header or None, trusted_proxies=trusted)
    chosen = reviewers_file or (str(settings.reviewers_file) if settings.reviewers_file else None)
    config = ConsoleConfig(
        access=access,
        topics=Topics.with_prefix(settings.topic_prefix),
        reviewers_file=chosen,
    )
    app = build_app(settings, config)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port  # port 0: the one chosen
        token = None if access.proxy_mode else access.login_token
        echo(f"sluice console: {login_url(host, bound, token)}")
        if token:
            echo("(open that URL once; the token is not shown again)")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
