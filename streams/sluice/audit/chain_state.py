"""One audit chain's verification state and the checks made when the read ends.

:class:`sluice.audit.verify.Verifier` keeps a :class:`ChainState` per chain while it
reads the topic; :func:`end_break` gives the breaks that only the end of the read can
show (a gap never filled, a truncated or rewritten tail against its anchor, a chain
without a signed checkpoint, one no writer committed, a forged tail beyond the
committed head).
"""

from __future__ import annotations

from array import array

from sluice.audit import report
from sluice.audit.chain import GENESIS_HASH, ChainHead
from sluice.audit.report import BrokenLink

__all__ = ["SIG_OK", "SIG_UNCHECKED", "ChainState", "Entry", "end_break"]

# Checkpoint signature states (the others are the report's break kinds).
SIG_OK = "ok"
SIG_UNCHECKED = "unchecked"  # no public keys were given

#: An entry waiting for its turn: seq, partition, offset, stored hash, prev_hash,
#: whether the stored hash matches the content, checkpoint signature state (or None).
Entry = tuple[int, int, int, str, str, bool, str | None]


class ChainState:
    """What the verifier knows of one chain while it reads: the next seq it waits for,
    the records that came early, where each verified record was read, checkpoints."""

    __slots__ = (
        "anchor",
        "anchor_hit",
        "base",
        "brk",
        "checkpoints",
        "cp_hash",
        "cp_verified",
        "first_loc",
        "last_cp",
        "last_hash",
        "locs_o",
        "locs_p",
        "name",
        "next_seq",
        "part_last",
        "pending",
        "records",
        "resume_at",
        "unsigned",
    )

    def __init__(self, name: str, anchor: ChainHead | None) -> None:
        self.name = name
        self.records = 0
        self.next_seq = 0
        self.last_hash = GENESIS_HASH
        self.pending: dict[int, Entry] = {}
        self.part_last: dict[int, tuple[int, int]] = {}
        self.brk: BrokenLink | None = None
        self.checkpoints = 0
        self.cp_verified = 0
        self.last_cp: int | None = None
        self.cp_hash: str | None = None  # of the last signature-verified checkpoint
        self.base = 0  # seq of locs[0], and where a resumed chain resumed
        self.resume_at: tuple[int, int] | None = None
        # Location of every verified record, indexed by seq - base (16 bytes per record).
        self.locs_p = array("q")
        self.locs_o = array("q")
        self.anchor = anchor
        self.anchor_hit: bool | None = None
        # Records applied since the last checkpoint (or since seq 0).
        self.unsigned = 0
        # Where the chain's first record was read (for a break about the whole chain).
        self.first_loc: tuple[int, int] | None = None

    def fail(
        self, what: str, seq: int, partition: int | None, offset: int | None, detail: str
    ) -> None:
        """Record the chain's first break; records waiting beyond it no longer count."""
        self.brk = BrokenLink(what, self.name, seq, partition, offset, detail)
        self.pending.clear()

    def loc(self, seq: int) -> tuple[int | None, int | None]:
        i = seq - self.base
        if 0 <= i < len(self.locs_p):
            return self.locs_p[i], self.locs_o[i]
        return None, None


def end_break(
    c: ChainState,
    bound: ChainHead | None,
    *,
    complete: bool = False,
    max_unsigned: int | None = None,
) -> BrokenLink | None:
    """The break only the end of the read shows in an unbroken chain, or None.

    In order: a seq still missing (records waiting beyond a gap), a chain short of its
    anchor or with another hash there, no signed checkpoint at all (with
    ``max_unsigned``), no committed head (``complete``: ``bound`` holds every writer's
    head) and records beyond the head its writer committed (``bound``).
    """
    if c.pending:
        seq = min(c.pending)
        entry = c.pending[seq]
        return BrokenLink(
            report.SEQ_GAP,
            c.name,
            c.next_seq,
            entry[1],
            entry[2],
            f"seq {c.next_seq} is missing; the chain resumes at seq {seq}",
        )
    anchor = c.anchor
    if anchor is not None and anchor.seq > 0:
        if c.next_seq < anchor.seq:
            p, o = c.loc(c.next_seq - 1)
            return BrokenLink(
                report.TRUNCATED,
                c.name,
                c.next_seq,
                p,
                o,
                f"the chain ends before seq {c.next_seq}; its expected head is at seq {anchor.seq}",
            )
        if not c.anchor_hit:
            p, o = c.loc(anchor.seq - 1)
            return BrokenLink(
                report.HEAD_MISMATCH,
                c.name,
                anchor.seq - 1,
                p,
                o,
                "the record at the expected head has a different hash (tail rewritten)",
            )
    if max_unsigned is not None and c.next_seq > 0 and c.cp_verified == 0:
        p, o = c.first_loc or (None, None)
        return BrokenLink(
            report.NO_CHECKPOINT,
            c.name,
            0,
            p,
            o,
            f"none of the chain's {c.next_seq} records is a signed checkpoint",
        )
    if bound is None and complete and c.next_seq > 0:
        p, o = c.first_loc or (None, None)
        return BrokenLink(
            report.NO_COMMITTED_HEAD,
            c.name,
            0,
            p,
            o,
            f"seq 0..{c.next_seq - 1} of a chain no writer committed a head for "
            "(forged, or the workers use other consumer groups)",
        )
    if bound is not None and c.next_seq > bound.seq:
        p, o = c.loc(bound.seq)
        return BrokenLink(
            report.AFTER_HEAD,
            c.name,
            bound.seq,
            p,
            o,
            f"seq {bound.seq}..{c.next_seq - 1} lie beyond the head its writer committed",
        )
    return None
