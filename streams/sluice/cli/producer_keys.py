"""``sluice keys producer``: make a producer key and print its producers-registry entry."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def producer(
    key_id: str = typer.Option(..., "--key-id", help="Key id ([A-Za-z0-9._:@-], ≤ 128)."),
    actor: list[str] = typer.Option(
        ..., "--actor", help="Actor id the key may speak for (repeatable)."
    ),
    workflow: list[str] = typer.Option(
        ..., "--workflow", help="Workflow id or glob (* ?) the key may speak for (repeatable)."
    ),
    out: Path = typer.Option(..., "--out", help="Producer key file to write (mode 0600)."),
    algorithm: str = typer.Option(
        "hmac-sha256", "--algorithm", help="hmac-sha256 (recommended) or ed25519."
    ),
    secret_out: Path = typer.Option(
        None,
        "--secret-out",
        help="hmac-sha256: the worker's secret_file to write (default: <out>.secret).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Make a producer key file and print its producers-registry entry.

    The key file is for ``sluice emit --producer-key`` or the Emitter; the entry goes
    under ``producers:`` in SLUICE_PRODUCERS_FILE. Never prints the secret or private
    key; refuses to overwrite a file.
    """
    import orjson
    import yaml

    from sluice.producers.keygen import make_producer_key

    entry = make_producer_key(
        key_id=key_id,
        algorithm=algorithm,
        actors=actor,
        workflows=workflow,
        out=out,
        secret_out=secret_out,
    )
    if json_out:
        typer.echo(orjson.dumps(entry).decode())
    else:
        typer.echo(yaml.safe_dump([entry], sort_keys=False).rstrip())


def register(app: typer.Typer) -> None:
    """Add ``keys producer`` (to the ``keys`` group)."""
    from sluice.cli.keys import keys_app

    keys_app.command("producer")(producer)
