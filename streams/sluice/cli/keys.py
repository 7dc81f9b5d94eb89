"""``sluice keys new``: a reviewer's Ed25519 key pair and its registry entry."""

from __future__ import annotations

import typer

__all__ = ["register"]

keys_app = typer.Typer(help="Manage reviewers' signing keys.", no_args_is_help=True)


@keys_app.command("new")
def new(
    reviewer: str = typer.Option(..., "--reviewer", help="Reviewer id (as in the registry)."),
    out: str = typer.Option(..., "--out", help="Private key file to write (mode 0600)."),
    key_id: str = typer.Option(
        None, "--key-id", help="Key id (default <reviewer>-<yyyy-mm>, UTC)."
    ),
    role: list[str] | None = typer.Option(
        None, "--role", help="Role to put in the printed entry (repeatable)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing key file."),
    json_out: bool = typer.Option(False, "--json", help="Print the entry as one JSON object."),
) -> None:
    """Generate an Ed25519 key: write the private key file, print its registry entry.

    The private key stays in FILE (mode 0600; missing parent directories are created
    with mode 0700); add the printed entry (or only its key,
    if the reviewer is already registered) to the reviewers registry.
    """
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sluice.cli.paths import ensure_parent_dir
    from sluice.errors import ConfigError
    from sluice.gate.signatures import public_key_to_b64, registry_entry, write_private_key

    reviewer = reviewer.strip()
    if not reviewer:
        raise ConfigError("--reviewer must not be empty")
    if key_id is None:
        key_id = f"{reviewer}-{dt.datetime.now(dt.UTC):%Y-%m}"
    roles = [r.strip() for r in (role or []) if r.strip()]
    key = Ed25519PrivateKey.generate()
    ensure_parent_dir(out)  # the reviewer guide's keys/ does not exist on a fresh machine
    write_private_key(out, reviewer, key_id, key, force=force)
    public = public_key_to_b64(key.public_key())
    typer.echo(f"wrote private key {key_id} for {reviewer} to {out} (mode 0600)", err=True)
    if json_out:
        import json

        entry = {
            "id": reviewer,
            "roles": roles,
            "keys": [{"id": key_id, "public_key": public, "revoked": False}],
        }
        typer.echo(json.dumps(entry))
    else:
        typer.echo("# add to `reviewers:` in the registry file (SLUICE_REVIEWERS_FILE)")
        typer.echo(registry_entry(reviewer, key_id, public, roles), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` group."""
    app.add_typer(keys_app, name="keys")
