"""Options shared by several verbs, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["BootstrapServers"]

#: ``--bootstrap-servers``; None means $SLUICE_BOOTSTRAP_SERVERS or the dev default.
BootstrapServers = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        help="Kafka bootstrap servers (default $SLUICE_BOOTSTRAP_SERVERS or 127.0.0.1:19092).",
    ),
]
