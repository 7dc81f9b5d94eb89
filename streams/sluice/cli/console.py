"""``sluice console``: serve the reviewers' web console (:mod:`sluice.console`)."""

from __future__ import annotations

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]


def console(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (localhost by default)."),
    port: int = typer.Option(8642, "--port", min=0, max=65535, help="Port to listen on."),
    reviewers: str = typer.Option(
        None,
        "--reviewers",
        help="Reviewers registry to check signatures against (default $SLUICE_REVIEWERS_FILE).",
    ),
    proxy_header: str = typer.Option(
        None,
        "--trusted-proxy-header",
        help="Identity header set by an authenticating proxy, e.g. X-Forwarded-User "
        "(replaces the login token; needs --trusted-proxies).",
    ),
    proxies: str = typer.Option(
        None, "--trusted-proxies", help="Comma-separated proxy addresses the header is taken from."
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Serve the review console: queue, detail, approve/reject signed in the browser.

    Without --trusted-proxy-header a login URL with a fresh token is printed once.
    """
    from sluice.console.serve import serve
    from sluice.settings import load_settings

    settings = load_settings(bootstrap_servers=bootstrap_servers)
    serve(
        settings,
        host=host,
        port=port,
        reviewers_file=reviewers,
        proxy_header=proxy_header,
        proxies=proxies,
        echo=typer.echo,
    )


def register(app: typer.Typer) -> None:
    """Add the ``console`` command."""
    app.command("console")(console)
