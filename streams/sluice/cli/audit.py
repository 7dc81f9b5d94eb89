"""``sluice audit verify|export|keygen``: check and hand over the tamper-evident trail."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from sluice.audit.chain import ChainHead
    from sluice.audit.verify import VerifyReport
    from sluice.settings import Settings

__all__ = ["expected_chains", "load_expected_heads", "register", "run_verify"]

audit_app = typer.Typer(
    help="Verify and export the hash-chained audit trail (workflow.audit).",
    no_args_is_help=True,
)

#: Seconds to wait before re-reading the writers' heads when a record seemed to lie
#: beyond them (the group commit and the topic's transaction marker become visible at
#: very slightly different moments).
_RECHECK_S = 1.0


def load_expected_heads(path: Path) -> dict[str, ChainHead]:
    """chain → head from a JSON file: a saved ``audit verify --json`` (its ``heads``), or
    an object of chain → ``{"seq": N, "hash": H}`` or → ChainHead metadata string.

    Raises:
        ConfigError: unreadable or not in that shape.
    """
    import orjson

    from sluice.audit.chain import ChainHead
    from sluice.errors import ConfigError

    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise ConfigError(f"cannot read expected heads from {path}") from None
    if isinstance(data, dict) and isinstance(data.get("heads"), dict):
        data = data["heads"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of chain → head")
    heads: dict[str, ChainHead] = {}
    for chain, value in data.items():
        head: ChainHead | None = None
        if isinstance(value, str):
            head = ChainHead.from_metadata(value)
        elif isinstance(value, dict):
            seq, digest = value.get("seq"), value.get("hash")
            if type(seq) is int and isinstance(digest, str):
                head = ChainHead.from_metadata(ChainHead(seq, digest).to_metadata())
        if head is None:
            raise ConfigError(f"{path}: head of chain {chain!r} is not valid")
        heads[str(chain)] = head
    return heads


async def expected_chains(settings: Settings) -> set[str]:
    """Every chain id a sluice writer can own: ``intake:<p>`` for each partition of
    ``workflow.events`` and ``gate:<p>`` for each partition of ``workflow.approvals``.

    A source topic that does not exist contributes nothing (no writer could chain it).
    """
    from aiokafka.admin import AIOKafkaAdminClient

    from sluice.topics import Topics

    topics = Topics.with_prefix(settings.topic_prefix)
    stages = {topics.events: "intake", topics.approvals: "gate"}
    names: set[str] = set()
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    try:
        await admin.start()
        for meta in await admin.describe_topics(list(stages)):
            if meta.get("error_code", 0) != 0:
                continue
            stage = stages.get(meta.get("topic", ""))
            if stage is not None:
                names.update(f"{stage}:{p['partition']}" for p in meta.get("partitions", ()))
    finally:
        await admin.close()
    return names


async def run_verify(
    settings: Settings,
    topic: str,
    *,
    public_keys: dict[str, Ed25519PublicKey],
    anchors: dict[str, ChainHead],
    use_committed: bool,
    timeout_s: float,
    max_unsigned: int | None = None,
) -> tuple[VerifyReport, dict[str, ChainHead]]:
    """Read ``topic`` to its end and verify it.

    With ``use_committed`` (the deployment's own audit topic), the writers' committed
    heads are read before the topic (as anchors: truncation, rewritten tail) and after it
    (as complete bounds: a forged tail, or a chain no writer committed), and only chains
    of existing source partitions may appear. With public keys, every chain must carry
    signed checkpoints, at most ``max_unsigned`` records apart.

    Returns:
        The report and the committed heads used as anchors.
    """
    import asyncio

    from sluice.audit.verify import AFTER_HEAD, NO_COMMITTED_HEAD, Verifier
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import committed_heads, read_topic

    anchors = dict(anchors)
    before: dict[str, ChainHead] = {}
    allowed: set[str] | None = None
    if use_committed:
        before = await committed_heads(settings)
        for chain, head in before.items():
            if chain not in anchors or head.seq > anchors[chain].seq:
                anchors[chain] = head
        allowed = await expected_chains(settings)
    verifier = Verifier(
        public_keys,
        anchors=anchors,
        chains=allowed,
        max_unsigned=max_unsigned if max_unsigned is not None else settings.checkpoint_every,
    )
    codec = default_codec()
    async for rec in read_topic(settings, topic, timeout_s=timeout_s, strict=True):
        if rec.value is None:
            verifier.add_malformed(rec.partition, rec.offset, "a record without a value")
            continue
        try:
            name, record = codec.decode_any(rec.value)
        except DecodeError as exc:
            verifier.add_malformed(rec.partition, rec.offset, f"undecodable ({exc.code})")
            continue
        if name != "AuditRecord":
            verifier.add_malformed(rec.partition, rec.offset, f"a {name}, not an AuditRecord")
            continue
        verifier.add(rec.partition, rec.offset, record)
    if not use_committed:
        return verifier.finish(), before
    report = verifier.finish(await committed_heads(settings), complete_bounds=True)
    if any(b.what in (AFTER_HEAD, NO_COMMITTED_HEAD) for b in report.breaks):
        await asyncio.sleep(_RECHECK_S)
        report = verifier.finish(await committed_heads(settings), complete_bounds=True)
    return report, before


def _where(b: Any) -> str:
    if b.partition is None:
        return "end of chain" if b.chain else "topic"
    return f"partition {b.partition} offset {b.offset}"


def _human(report: VerifyReport, topic: str, committed: dict[str, ChainHead]) -> str:
    lines = []
    for name, c in sorted(report.chains.items()):
        cps = "checkpoints: none"
        if c.checkpoints:
            cps = f"checkpoints: {c.checkpoints} ({c.checkpoints_verified} signature-verified)"
        status = "ok"
        if c.first_break is not None:
            b = c.first_break
            status = f"BROKEN at {_where(b)} seq {b.seq}: {b.what} ({b.detail})"
        lines.append(f"chain {name}: {c.records} records, seq 0..{c.head.seq - 1}, {cps}: {status}")
    for b in report.malformed:
        lines.append(f"record at {_where(b)}: {b.what} ({b.detail})")
    if report.malformed_count > len(report.malformed):
        lines.append(f"... {report.malformed_count - len(report.malformed)} more malformed")
    for b in report.missing:
        lines.append(f"chain {b.chain}: {b.what} ({b.detail})")
    if not report.key_ids:
        lines.append(
            "checkpoint signatures NOT checked (a chain forged from genesis is only caught by "
            "committed heads): give --public-key (or SLUICE_AUDIT_KEY_FILE)"
        )
    if committed:
        lines.append(f"committed writer heads checked: {len(committed)}")
    summary = (
        f"{topic}: {len(report.chains)} chain(s), {report.records} record(s), "
        f"checkpoints: {report.checkpoints or 'none'}"
    )
    first = report.first_break
    if first is None:
        lines.append(f"OK {summary}")
    else:
        chain = f" chain {first.chain} seq {first.seq}" if first.chain else ""
        lines.append(f"BROKEN {summary}")
        lines.append(f"first broken link: {_where(first)}{chain}: {first.what} ({first.detail})")
    return "\n".join(lines)


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
    bootstrap_servers: str = typer.Option(
        None, "--bootstrap-servers", help="Kafka bootstrap servers."
    ),
) -> None:
    """Re-read the audit topic, recompute every chain and checkpoint, name the first broken link.

    With the service's public key (--public-key or SLUICE_AUDIT_KEY_FILE) every chain
    must carry valid signed checkpoints; on the deployment's own topic only chains of
    existing source partitions whose writers committed a head may appear.

    Exit 0 when every chain verifies, 1 on any break (partition, offset and what is
    wrong are printed), 2 on bad input.
    """
    import asyncio

    import orjson

    from sluice.audit.keys import CheckpointSigner, key_id_for, load_public_keys
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
    anchors = load_expected_heads(expect_heads) if expect_heads is not None else {}
    committed = use_committed if use_committed is not None else topic == own_topic
    report, heads = asyncio.run(
        run_verify(
            settings,
            topic,
            public_keys=keys,
            anchors=anchors,
            use_committed=committed,
            timeout_s=timeout,
            max_unsigned=max_unsigned,
        )
    )
    if json_out:
        out = report.to_dict()
        out["topic"] = topic
        out["committed_heads"] = {
            c: {"seq": h.seq, "hash": h.hash} for c, h in sorted(heads.items())
        }
        typer.echo(orjson.dumps(out).decode())
    else:
        typer.echo(_human(report, topic, heads))
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
    bootstrap_servers: str = typer.Option(
        None, "--bootstrap-servers", help="Kafka bootstrap servers."
    ),
) -> None:
    """Write audit records (``at`` ≥ --since) as JSON lines for a SIEM, signatures base64."""
    import asyncio
    import sys
    import time

    import orjson

    from sluice.audit.export import export_record, parse_since
    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka import read_topic
    from sluice.settings import load_settings
    from sluice.topics import Topics

    if fmt != "jsonl":
        raise typer.BadParameter("only jsonl is supported", param_hint="--format")
    start_ms = 0
    if since is not None:
        try:
            start_ms = parse_since(since, now_ms=time.time_ns() // 1_000_000)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    settings = load_settings(bootstrap_servers=bootstrap_servers)
    topic = topic or Topics.with_prefix(settings.topic_prefix).audit
    codec = default_codec()

    async def run() -> tuple[int, int]:
        written = skipped = 0
        out = sys.stdout.buffer
        async for rec in read_topic(settings, topic, timeout_s=timeout, strict=True):
            try:
                name, record = codec.decode_any(rec.value or b"")
            except DecodeError:
                skipped += 1
                continue
            if name != "AuditRecord":
                skipped += 1
                continue
            if record.get("at", 0) < start_ms:
                continue
            line = export_record(record, partition=rec.partition, offset=rec.offset)
            out.write(orjson.dumps(line) + b"\n")
            written += 1
        out.flush()
        return written, skipped

    written, skipped = asyncio.run(run())
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

    if force and if_missing:
        raise typer.BadParameter("--force and --if-missing contradict each other")
    if if_missing and out.exists():
        signer = CheckpointSigner.from_file(out)  # refuses a file that is not a key
        pub = out.with_name(out.name + ".pub")
        if not pub.exists():
            pub.write_bytes(signer.public_pem())
    else:
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
