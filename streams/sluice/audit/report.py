"""What audit verification found: broken links, per-chain and whole-topic reports.

The ``what`` constants name every kind of break :class:`~sluice.audit.verify.Verifier`
reports; :func:`format_report` is the human form ``sluice audit verify`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sluice.audit.chain import ChainHead

__all__ = [
    "AFTER_HEAD",
    "BAD_SIGNATURE",
    "DUPLICATE_SEQ",
    "HASH_MISMATCH",
    "HEAD_MISMATCH",
    "MALFORMED",
    "MISSING_CHAIN",
    "NO_CHECKPOINT",
    "NO_COMMITTED_HEAD",
    "OUT_OF_ORDER",
    "PREV_HASH_MISMATCH",
    "SEQ_GAP",
    "TRUNCATED",
    "UNEXPECTED_CHAIN",
    "UNKNOWN_KEY",
    "UNSIGNED_CHECKPOINT",
    "UNSIGNED_RUN",
    "BrokenLink",
    "ChainReport",
    "VerifyReport",
    "format_report",
]

# What can be wrong with a link (the ``what`` of a BrokenLink).
HASH_MISMATCH = "hash mismatch"
PREV_HASH_MISMATCH = "prev_hash mismatch"
SEQ_GAP = "seq gap"
DUPLICATE_SEQ = "duplicate seq"
OUT_OF_ORDER = "out of order"
BAD_SIGNATURE = "bad checkpoint signature"
UNKNOWN_KEY = "unknown checkpoint key"
UNSIGNED_CHECKPOINT = "unsigned checkpoint"
MALFORMED = "malformed record"
TRUNCATED = "truncated"
HEAD_MISMATCH = "head mismatch"
MISSING_CHAIN = "missing chain"
AFTER_HEAD = "record after committed head"
UNEXPECTED_CHAIN = "unexpected chain"
NO_COMMITTED_HEAD = "no committed head"
NO_CHECKPOINT = "no signed checkpoint"
UNSIGNED_RUN = "unsigned run too long"


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first thing wrong in a chain (or a record that belongs to no chain)."""

    #: One of the module's ``what`` constants.
    what: str
    #: Chain id; None for a record that could not be read.
    chain: str | None
    #: seq of the offending record (or of the missing one, for a gap).
    seq: int | None
    #: Where to look in the topic; None when the problem is an absence at the end.
    partition: int | None
    offset: int | None
    #: One line for a human, without record content.
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "what": self.what,
            "chain": self.chain,
            "seq": self.seq,
            "partition": self.partition,
            "offset": self.offset,
            "detail": self.detail,
        }

    def sort_key(self) -> tuple[int, int, int]:
        """Topic position order; absences sort last."""
        if self.partition is None or self.offset is None:
            return (1, 0, 0)
        return (0, self.partition, self.offset)


@dataclass(slots=True)
class ChainReport:
    """What one chain looked like."""

    chain: str
    #: Records of the chain read from the topic (including any after a break).
    records: int = 0
    #: Head of the verified prefix: seq of the next record and hash of the last good one.
    head: ChainHead = field(default_factory=ChainHead.genesis)
    #: Checkpoints in the verified prefix, and how many had their signature checked.
    checkpoints: int = 0
    checkpoints_verified: int = 0
    #: seq of the last checkpoint in the verified prefix (everything before it is
    #: protected by the service key's signature).
    last_checkpoint_seq: int | None = None
    first_break: BrokenLink | None = None

    @property
    def ok(self) -> bool:
        """True when the chain verified."""
        return self.first_break is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "chain": self.chain,
            "ok": self.ok,
            "records": self.records,
            "verified": self.head.seq,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "checkpoints": self.checkpoints,
            "checkpoints_verified": self.checkpoints_verified,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "first_break": self.first_break.to_dict() if self.first_break else None,
        }


@dataclass(slots=True)
class VerifyReport:
    """The outcome of verifying a topic."""

    chains: dict[str, ChainReport]
    records: int
    #: Records that are not readable AuditRecords (first few kept), and their count.
    malformed: list[BrokenLink]
    malformed_count: int
    #: Breaks that belong to no record: expected chains that are absent.
    missing: list[BrokenLink]
    #: Key ids checkpoint signatures were checked against (empty: not checked).
    key_ids: list[str]

    @property
    def ok(self) -> bool:
        """True when every chain verified and every record was readable."""
        return (
            self.malformed_count == 0
            and not self.missing
            and all(c.ok for c in self.chains.values())
        )

    @property
    def breaks(self) -> list[BrokenLink]:
        """Every reported break, in topic position order."""
        found = [c.first_break for c in self.chains.values() if c.first_break is not None]
        return sorted([*found, *self.malformed, *self.missing], key=BrokenLink.sort_key)

    @property
    def first_break(self) -> BrokenLink | None:
        """The break earliest in the topic, or None."""
        breaks = self.breaks
        return breaks[0] if breaks else None

    @property
    def checkpoints(self) -> int:
        """Checkpoints in the verified prefixes of all chains."""
        return sum(c.checkpoints for c in self.chains.values())

    def heads(self) -> dict[str, dict[str, Any]]:
        """chain → verified head, the form ``--expect-heads`` reads back."""
        return {
            name: {"seq": c.head.seq, "hash": c.head.hash}
            for name, c in sorted(self.chains.items())
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``sluice audit verify --json``)."""
        first = self.first_break
        return {
            "ok": self.ok,
            "records": self.records,
            "chains": {name: c.to_dict() for name, c in sorted(self.chains.items())},
            "checkpoints": self.checkpoints,
            "signatures_checked": bool(self.key_ids),
            "key_ids": self.key_ids,
            "malformed": self.malformed_count,
            "first_break": first.to_dict() if first else None,
            "breaks": [b.to_dict() for b in self.breaks],
            "heads": self.heads(),
        }


def _where(b: BrokenLink) -> str:
    if b.partition is None:
        return "end of chain" if b.chain else "topic"
    return f"partition {b.partition} offset {b.offset}"


def format_report(report: VerifyReport, topic: str, committed: dict[str, ChainHead]) -> str:
    """The report as lines for a human: one per chain, the breaks, then OK or BROKEN with
    the first broken link (``committed``: the writers' heads that were checked)."""
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
