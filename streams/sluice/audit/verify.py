"""Verification of audit chains read back from the topic: pure, streaming, first break.

Records of many chains interleave in ``workflow.audit``: a worker writes each chain's
records to the audit partition of the chain's source partition (modulo the audit
topic's partitions), so one partition holds several chains, and a chain whose records
were written while the partition count differed spreads over more than one. The
verifier therefore:

- groups records by ``chain`` and puts each chain back in ``seq`` order (records that
  arrive early wait in a small buffer); within one partition a chain's seqs must only
  increase, because one writer produced them in order (a swap shows as ``out of order``);
- checks, per chain from seq 0: no gap and no duplicate seq, ``prev_hash`` equal to the
  previous record's ``hash``, ``hash`` equal to the recomputed hash of the record's
  content, and every checkpoint's Ed25519 signature against the given public keys;
- optionally checks expected heads (anchors): the chain must reach the anchor's seq with
  the same hash there (catches a truncated or rewritten tail), and upper bounds: no record
  beyond a head committed by the chain's writer (catches a forged tail while writers idle);
- optionally knows which chains may exist (``intake:<p>`` and ``gate:<p>`` for the
  partitions of their source topics): any other chain is ``unexpected chain``; and, with
  complete bounds (the writers' committed heads), a chain no writer ever committed is
  ``no committed head``;
- with the service's public key, requires every chain to carry signed checkpoints: a
  chain without one is ``no signed checkpoint``, and more than ``max_unsigned`` records
  after a checkpoint without the next one is ``unsigned run too long``. A writer with the
  key opens each chain with a checkpoint and writes one every ``checkpoint_every``
  records, so a chain appended from genesis by someone without the key fails, however
  self-consistent its hashes are.

Only the first broken link of each chain is reported: after it, nothing in that chain
can be trusted, and the location (partition, offset) is where an operator starts looking.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sluice.audit import report
from sluice.audit.chain import ChainHead, checkpoint_message, record_hash
from sluice.audit.chain_state import SIG_OK, SIG_UNCHECKED, ChainState, Entry, end_break
from sluice.audit.report import BrokenLink, ChainReport, VerifyReport

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["Verifier", "verify_records"]

_MAX_MALFORMED_KEPT = 100


class Verifier:
    """Feeds on records one at a time; :meth:`finish` gives the report.

    Args:
        public_keys: key id → Ed25519 public key of the sluice service. Empty: checkpoint
            signatures are not checked (reported as such; the chain still verifies).
        anchors: chain → head the chain must reach with the same hash there (from a saved
            ``verify --json`` or from the writers' committed offsets read *before* the
            topic). A chain with an anchor beyond seq 0 that is absent is a break.
        chains: the chain ids that may exist; a record of any other chain is a break
            (``unexpected chain``). None: any id.
        max_unsigned: with ``public_keys``, the most records a chain may have after a
            checkpoint before the next one (the writers' ``checkpoint_every``); every
            chain must also carry at least one signed checkpoint. None: not enforced.
    """

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        *,
        anchors: Mapping[str, ChainHead] | None = None,
        chains: Collection[str] | None = None,
        max_unsigned: int | None = None,
    ) -> None:
        if max_unsigned is not None and max_unsigned < 1:
            raise ValueError("max_unsigned must be >= 1")
        self._keys = dict(public_keys or {})
        self._anchors = dict(anchors or {})
        self._allowed = frozenset(chains) if chains is not None else None
        self._max_unsigned = max_unsigned if self._keys else None
        self._chains: dict[str, ChainState] = {}
        self._records = 0
        self._malformed: list[BrokenLink] = []
        self._malformed_count = 0
        #: Records of resumed chains from before their checkpoint (not verified again).
        self.skipped = 0

    # -- input ---------------------------------------------------------------------

    def add_malformed(self, partition: int, offset: int, detail: str) -> None:
        """Count a record that could not be decoded as an AuditRecord."""
        self._records += 1
        self._malformed_count += 1
        if len(self._malformed) < _MAX_MALFORMED_KEPT:
            self._malformed.append(
                BrokenLink(report.MALFORMED, None, None, partition, offset, detail)
            )

    def add(self, partition: int, offset: int, record: Mapping[str, Any]) -> None:
        """Take the decoded record at ``partition``/``offset`` (in offset order per partition)."""
        try:
            name = record["chain"]
            seq = record["seq"]
            prev = record["prev_hash"]
            stored = record["hash"]
        except (KeyError, TypeError):
            self.add_malformed(partition, offset, "not an AuditRecord")
            return
        if not (
            isinstance(name, str)
            and type(seq) is int
            and seq >= 0
            and isinstance(prev, str)
            and isinstance(stored, str)
        ):
            self.add_malformed(partition, offset, "chain fields of the wrong type")
            return
        try:
            computed = record_hash(record)
        except TypeError:
            self.add_malformed(partition, offset, "a field of a type AuditRecord does not allow")
            return
        c = self._chains.get(name)
        if c is not None and seq < c.base and c.resume_at is not None:
            rp, ro = c.resume_at
            if partition != rp or offset < ro:
                self.skipped += 1  # history the run that saved the checkpoint verified
                return
        self._records += 1
        if c is None:
            c = self._chains[name] = ChainState(name, self._anchors.get(name))
            c.first_loc = (partition, offset)
            if self._allowed is not None and name not in self._allowed:
                c.brk = BrokenLink(
                    report.UNEXPECTED_CHAIN,
                    name,
                    seq,
                    partition,
                    offset,
                    "no sluice writer owns a chain of this name (not intake:<p> or gate:<p> "
                    "of an existing source partition)",
                )
        c.records += 1
        if c.brk is not None:
            return
        last = c.part_last.get(partition)
        if last is not None and seq <= last[0]:
            what = report.DUPLICATE_SEQ if seq == last[0] else report.OUT_OF_ORDER
            c.fail(
                what,
                seq,
                partition,
                offset,
                f"seq {seq} follows seq {last[0]} (offset {last[1]}) in partition {partition}",
            )
            return
        c.part_last[partition] = (seq, offset)
        sig: str | None = None
        if record.get("transition") == "checkpoint" or record.get("stage") == "checkpoint":
            sig = self._check_signature(name, seq, prev, record)
        entry: Entry = (seq, partition, offset, stored, prev, computed == stored, sig)
        if seq == c.next_seq:
            self._apply(c, entry)
            pending = c.pending
            while pending and c.brk is None and c.next_seq in pending:
                self._apply(c, pending.pop(c.next_seq))
        elif seq > c.next_seq:
            other = c.pending.get(seq)
            if other is not None:
                c.fail(
                    report.DUPLICATE_SEQ,
                    seq,
                    partition,
                    offset,
                    f"seq {seq} also at partition {other[1]} offset {other[2]}",
                )
            else:
                c.pending[seq] = entry
        else:
            p, o = c.loc(seq)
            c.fail(
                report.DUPLICATE_SEQ,
                seq,
                partition,
                offset,
                f"seq {seq} already seen at partition {p} offset {o}",
            )

    def resume(self, chain: str, seq: int, prev_hash: str, partition: int, offset: int) -> None:
        """Start ``chain`` at its checkpoint (``seq``, ``prev_hash``) at ``partition``/
        ``offset``, which must still be read and verifies like any record. The chain's
        earlier seqs are skipped in other partitions and before it in its own."""
        c = self._chains[chain] = ChainState(chain, self._anchors.get(chain))
        c.next_seq = c.base = seq
        c.last_hash = prev_hash
        c.resume_at = c.first_loc = (partition, offset)
        if c.anchor is not None and c.anchor.seq <= seq:
            c.anchor = None  # reached before the checkpoint: checked by the earlier run

    def resume_points(self) -> tuple[dict[str, tuple[int, str, int, int]], dict[int, int]]:
        """For a later run, over unbroken chains: chain → (seq, hash, partition, offset)
        of its last verified checkpoint; partition → lowest offset at or after one."""
        cps: dict[str, tuple[int, str, int, int]] = {}
        starts: dict[int, int] = {}
        for name, c in self._chains.items():
            if c.brk is not None or c.last_cp is None or c.cp_hash is None:
                continue
            for seq in range(c.last_cp, c.next_seq):  # at most max_unsigned + 1 records
                p, o = c.loc(seq)
                if p is not None and o is not None and o < starts.get(p, o + 1):
                    starts[p] = o
            p, o = c.loc(c.last_cp)
            if p is not None and o is not None:
                cps[name] = (c.last_cp, c.cp_hash, p, o)
        return cps, starts

    def _check_signature(self, chain: str, seq: int, prev: str, record: Mapping[str, Any]) -> str:
        signature = record.get("signature")
        key_id = record.get("key_id")
        at = record.get("at")
        if signature is None:
            return report.UNSIGNED_CHECKPOINT
        if not self._keys:
            return SIG_UNCHECKED
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            return report.UNKNOWN_KEY
        if type(at) is not int:
            return report.BAD_SIGNATURE
        from sluice.audit.keys import verify_signature

        message = checkpoint_message(chain, seq, prev, at, key_id)
        return SIG_OK if verify_signature(key, bytes(signature), message) else report.BAD_SIGNATURE

    def _apply(self, c: ChainState, entry: Entry) -> None:
        seq, partition, offset, stored, prev, hash_ok, sig = entry
        what = detail = None
        if not hash_ok:
            what, detail = (
                report.HASH_MISMATCH,
                "the stored hash does not match the record's content",
            )
        elif prev != c.last_hash:
            what = report.PREV_HASH_MISMATCH
            detail = (
                "prev_hash is not the hash of the previous record"
                if seq
                else "prev_hash of seq 0 is not the genesis hash"
            )
        elif sig is not None and sig not in (SIG_OK, SIG_UNCHECKED):
            what = sig
            detail = {
                report.UNSIGNED_CHECKPOINT: "a checkpoint without a signature",
                report.UNKNOWN_KEY: "signed by a key none of the given public keys match",
                report.BAD_SIGNATURE: "the signature does not verify with the named key",
            }[sig]
        elif sig is None and self._max_unsigned is not None and c.unsigned >= self._max_unsigned:
            if c.cp_verified == 0:
                what = report.NO_CHECKPOINT
                detail = (
                    f"{c.unsigned} records from genesis without a signed checkpoint "
                    f"(a writer with the service key signs within {self._max_unsigned})"
                )
            else:
                what = report.UNSIGNED_RUN
                detail = (
                    f"more than {self._max_unsigned} records after the checkpoint at seq "
                    f"{c.last_cp} without another (appended without the service key?)"
                )
        if what is not None:
            c.fail(what, seq, partition, offset, detail or what)
            return
        if sig is not None:
            c.checkpoints += 1
            c.cp_verified += sig == SIG_OK
            c.cp_hash = stored if sig == SIG_OK else None
            c.last_cp = seq
            c.unsigned = 0
        else:
            c.unsigned += 1
        c.locs_p.append(partition)
        c.locs_o.append(offset)
        c.last_hash = stored
        c.next_seq = seq + 1
        if c.anchor is not None and c.anchor.seq == c.next_seq:
            c.anchor_hit = c.anchor.hash == stored

    # -- output --------------------------------------------------------------------

    def finish(
        self, bounds: Mapping[str, ChainHead] | None = None, *, complete_bounds: bool = False
    ) -> VerifyReport:
        """The report so far; may be called again (e.g. with fresher ``bounds``).

        Args:
            bounds: chain → head committed by the chain's writer, read *after* the topic's
                end offsets were taken: a record at or beyond its seq was not committed by
                the writer (a forged tail).
            complete_bounds: ``bounds`` holds every writer's committed head, so a chain
                absent from it was never committed by a writer (``no committed head``).
        """
        bounds = bounds or {}
        chains: dict[str, ChainReport] = {}
        for name, c in self._chains.items():
            brk = c.brk or end_break(
                c, bounds.get(name), complete=complete_bounds, max_unsigned=self._max_unsigned
            )
            chains[name] = ChainReport(
                chain=name,
                records=c.records,
                head=ChainHead(c.next_seq, c.last_hash),
                checkpoints=c.checkpoints,
                checkpoints_verified=c.cp_verified,
                last_checkpoint_seq=c.last_cp,
                first_break=brk,
            )
        missing = [
            BrokenLink(
                report.MISSING_CHAIN,
                name,
                0,
                None,
                None,
                f"no record of the chain; expected at least {head.seq}",
            )
            for name, head in sorted(self._anchors.items())
            if head.seq > 0 and name not in self._chains
        ]
        return VerifyReport(
            chains=chains,
            records=self._records,
            malformed=list(self._malformed),
            malformed_count=self._malformed_count,
            missing=missing,
            key_ids=sorted(self._keys),
        )


def verify_records(
    records: Iterable[tuple[int, int, Mapping[str, Any] | None]],
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    *,
    anchors: Mapping[str, ChainHead] | None = None,
    bounds: Mapping[str, ChainHead] | None = None,
    complete_bounds: bool = False,
    chains: Collection[str] | None = None,
    max_unsigned: int | None = None,
) -> VerifyReport:
    """Verify ``(partition, offset, record)`` triples (None: an undecodable record).

    Pure: no I/O. See :class:`Verifier` for ``public_keys``, ``anchors``, ``chains`` and
    ``max_unsigned``, and :meth:`Verifier.finish` for ``bounds`` and ``complete_bounds``.
    """
    v = Verifier(public_keys, anchors=anchors, chains=chains, max_unsigned=max_unsigned)
    for partition, offset, record in records:
        if record is None:
            v.add_malformed(partition, offset, "not a decodable AuditRecord")
        else:
            v.add(partition, offset, record)
    return v.finish(bounds, complete_bounds=complete_bounds)
