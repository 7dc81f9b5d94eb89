"""``sluice audit verify|export|keygen``: check and hand over the tamper-evident trail."""

from __future__ import annotations

from pathlib import Path

import typer

from sluice.cli.options import BootstrapServers

__all__ = ["register"]

audit_app = typer.Typer(
    help="Verify and export the hash-chained audit trail (workflow.audit).",
    no_args_is_help=True,
)


@audit_app.command("verify")
def verify(
    topic: str = typer.Option(
        None, "--topic", help="Audit topic (default: workflow.audit with the prefix)."
    ),
    from_beginning: bool = typer.Option(
        True, "--from-beginning", help="Read from the first record (always; chains start at seq 0)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    public_key: list[Path] | None = typer.Option(
        None,
        "--public-key",
        help="Service public key file for checkpoints (repeatable; "
        "default: the public half of SLUICE_AUDIT_KEY_FILE).",
    ),
    expect_heads: Path | None = typer.Option(
        None,
        "--expect-heads",
        help="JSON of chain heads the chains must reach (e.g. a saved "
        "`audit verify --json`): catches a truncated or rewritten tail.",
    ),
    use_committed: bool | None = typer.Option(
        None,
        "--committed-heads/--no-committed-heads",
        help="Check chains against the heads the workers committed in their consumer groups "
        "(default: on for the deployment's own audit topic).",
    ),
    max_unsigned: int | None = typer.Option(
        None,
        "--max-unsigned",
        min=1,
        help="With a public key: most records a chain may have after a signed checkpoint "
        "(default: SLUICE_CHECKPOINT_EVERY, what the workers write).",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Seconds without progress before giving up."
    ),
    state: Path | None = typer.Option(
        None,
        "--state",
        help="After a run in which every chain verifies, save each chain's last signed "
        "checkpoint and where it lies here (JSON), for --since-checkpoint.",
    ),
    since_checkpoint: bool = typer.Option(
        False,
        "--since-checkpoint",
        help="Resume from the checkpoints saved in --state instead of offset 0: each is "
        "re-read from Kafka and its signature re-checked (any failure: a full run).",
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Re-read the audit topic, recompute every chain and checkpoint, name the first broken link.

    With the service's public key (--public-key or SLUICE_AUDIT_KEY_FILE) every chain
    must carry valid signed checkpoints; on the deployment's own topic only chains of
    existing source partitions whose writers committed a head may appear.

    With --state FILE --since-checkpoint a daily run reads only what was written since
    the last signed checkpoints of the previous run (docs/operating.md); a progress line
    goes to stderr when it is a terminal (not with --json).

    Exit 0 when every chain verifies, 1 on any break (partition, offset and what is
    wrong are printed), 2 on bad input.
    """
    import asyncio

    import orjson

    from sluice.audit.heads import load_expected_heads
    from sluice.audit.keys import CheckpointSigner, key_id_for, load_public_keys
    from sluice.audit.report import format_report
    from sluice.audit.resume import (
        ResumePoint,
        ResumeState,
        check_checkpoints,
        load_state,
        save_state,
    )
    from sluice.audit.topic import run_verify
    from sluice.cli.paths import ensure_parent_dir
    from sluice.cli.progress import progress
    from sluice.kafka.heads import committed_heads
    from sluice.settings import load_settings
    from sluice.topics import Topics

    del from_beginning  # verification always starts at seq 0: the flag is for the SPEC
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    own_topic = Topics.with_prefix(settings.topic_prefix).audit
    topic = topic or own_topic
    keys = load_public_keys(tuple(public_key or ()))
    if not keys and settings.audit_key_file is not None:
        pub = CheckpointSigner.from_file(settings.audit_key_file).public_key
        keys = {key_id_for(pub): pub}
    if since_checkpoint and state is None:
        raise typer.BadParameter("needs --state FILE", param_hint="--since-checkpoint")
    if state is not None and not keys:
        raise typer.BadParameter(
            "needs the service public key (--public-key or SLUICE_AUDIT_KEY_FILE): "
            "only signed checkpoints can be resumed from",
            param_hint="--state",
        )
    anchors = load_expected_heads(expect_heads) if expect_heads is not None else {}
    committed = use_committed if use_committed is not None else topic == own_topic
    saved: ResumeState | None = None
    points: dict[str, ResumePoint] = {}
    why_not: str | None = None
    if since_checkpoint and state is not None:
        saved, why_not = load_state(state, topic)
        if saved is not None:
            points, why_not = asyncio.run(
                check_checkpoints(settings, topic, saved, keys, timeout_s=timeout)
            )
            saved = saved if points else None
    with progress(f"verifying {topic}", json_out=json_out) as on_progress:
        run = asyncio.run(
            run_verify(
                settings,
                topic,
                public_keys=keys,
                anchors=anchors,
                committed_heads=committed_heads if committed else None,
                timeout_s=timeout,
                max_unsigned=max_unsigned,
                resume=saved,
                points=points,
                on_progress=on_progress,
            )
        )
    report, heads = run.report, run.heads
    if state is not None and report.ok:
        ensure_parent_dir(state)
        save_state(state, run.state)
    resumed = {
        "resumed": bool(points),
        "chains": len(points),
        "skipped": run.skipped,
        "started_at": {str(p): o for p, o in sorted(run.started_at.items())},
        "full_run_because": why_not if since_checkpoint else None,
        "state_saved": state is not None and report.ok,
    }
    if json_out:
        out = report.to_dict()
        out["topic"] = topic
        out["committed_heads"] = {
            c: {"seq": h.seq, "hash": h.hash} for c, h in sorted(heads.items())
        }
        out["since_checkpoint"] = resumed
        typer.echo(orjson.dumps(out).decode())
    else:
        if points:
            typer.echo(
                f"resumed {len(points)} chain(s) at their last signed checkpoints "
                f"({run.skipped} earlier record(s) skipped)",
                err=True,
            )
        elif since_checkpoint:
            typer.echo(f"sluice: reading from offset 0: {why_not}", err=True)
        typer.echo(format_report(report, topic, heads))
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("export")
def export(
    since: str = typer.Option(
        None, "--since", help="ISO 8601 time or a duration back from now (15m, 2h, 7d)."
    ),
    fmt: str = typer.Option("jsonl", "--format", help="Output format: jsonl."),
    topic: str = typer.Option(
        None, "--topic", help="Audit topic (default: workflow.audit with the prefix)."
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Seconds without progress before giving up."
    ),
    bootstrap_servers: BootstrapServers = None,
) -> None:
    """Write audit records (``at`` ≥ --since) as JSON lines for a SIEM, signatures base64."""
    import asyncio
    import sys

    import orjson

    from sluice.audit.export import parse_since
    from sluice.audit.topic import export_topic
    from sluice.cli.progress import progress
    from sluice.clock import now_ms
    from sluice.settings import load_settings
    from sluice.topics import Topics

    if fmt != "jsonl":
        raise typer.BadParameter("only jsonl is supported", param_hint="--format")
    start_ms = 0
    if since is not None:
        try:
            start_ms = parse_since(since, now_ms=now_ms())
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    topic = topic or Topics.with_prefix(settings.topic_prefix).audit
    out = sys.stdout.buffer

    def write(line: dict[str, object]) -> None:
        out.write(orjson.dumps(line) + b"\n")

    with progress(f"exporting {topic}") as on_progress:
        written, skipped = asyncio.run(
            export_topic(
                settings,
                topic,
                write,
                since_ms=start_ms,
                timeout_s=timeout,
                on_progress=on_progress,
            )
        )
    out.flush()
    if skipped:
        typer.echo(f"sluice: skipped {skipped} record(s) that are not AuditRecords", err=True)
    typer.echo(f"exported {written} record(s)", err=True)


@audit_app.command("keygen")
def keygen(
    out: Path = typer.Option(
        ..., "--out", help="Private key file to write (mode 0600); the public key goes to FILE.pub."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing key file."),
    if_missing: bool = typer.Option(
        False,
        "--if-missing",
        help="Keep an existing key file (after checking it is a key) instead of failing: "
        "for init steps that run on every start.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print key id and public key as JSON."),
) -> None:
    """Generate the sluice service key that signs audit checkpoints (SLUICE_AUDIT_KEY_FILE)."""
    import base64

    import orjson

    from sluice.audit.keys import CheckpointSigner, public_key_raw, write_key_pair
    from sluice.cli.paths import ensure_parent_dir

    if force and if_missing:
        raise typer.BadParameter("--force and --if-missing contradict each other")
    if if_missing and out.exists():
        signer = CheckpointSigner.from_file(out)  # refuses a file that is not a key
        pub = out.with_name(out.name + ".pub")
        if not pub.exists():
            pub.write_bytes(signer.public_pem())
    else:
        ensure_parent_dir(out)
        signer = write_key_pair(out, force=force)
    info = {
        "key_id": signer.key_id,
        "private_key_file": str(out),
        "public_key_file": str(out) + ".pub",
        "public_key": base64.b64encode(public_key_raw(signer.public_key)).decode("ascii"),
    }
    if json_out:
        typer.echo(orjson.dumps(info).decode())
    else:
        typer.echo(
            f"wrote {info['private_key_file']} (keep it secret; SLUICE_AUDIT_KEY_FILE) and "
            f"{info['public_key_file']}\nkey id: {info['key_id']}\npublic key: {info['public_key']}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``audit`` group."""
    app.add_typer(audit_app, name="audit")
