"""Hash chaining of audit records: canonical encoding, chain heads, the chain writer.

Canonical encoding (what ``hash`` is computed over), version 1::

    sha256( b"sluice.audit.v1\\n" + JSON([v_chain, v_seq, v_prev_hash, v_stage, ...]) )

``JSON`` is the compact JSON array of the values of every AuditRecord field except
``hash``, in schema order (:data:`HASHED_FIELDS`); ``null`` for absent values,
``signature`` as lowercase hex. Numbers are integers; strings use only the mandatory
escapes (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other controls as ``\\u00xx``),
non-ASCII as raw UTF-8: for these types that is RFC 8785 (JCS) and exactly what
Python's ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))`` produces,
so an auditor can recompute a hash without sluice. Should a later schema add fields,
their non-default values are appended as one trailing JSON object with sorted keys, so
the hashes of records written before stay valid.

A checkpoint record (``stage`` = ``transition`` = ``"checkpoint"``) carries an Ed25519
``signature`` by the sluice service key over :func:`checkpoint_message` (chain, seq,
prev_hash, at, key_id); the signature is itself covered by the record's hash.

With a service key, a writer opens every chain it starts or resumes with a checkpoint
(before its first record), then writes one after every ``checkpoint_every`` records: no
run of records between two checkpoints, or after the opening one, is longer than
``checkpoint_every``. That is what lets ``audit verify`` refuse a chain someone wrote from
genesis without the key (no signed checkpoint at all) and bound an unsigned tail.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from sluice.clock import now_ms
from sluice.models.records import RecordName, Transition, record_field_names

if TYPE_CHECKING:
    from sluice.audit.keys import CheckpointSigner

__all__ = [
    "ALL_FIELDS",
    "CHECKPOINT",
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "LATER_FIELDS",
    "ChainHead",
    "ChainWriter",
    "canonical_bytes",
    "checkpoint_message",
    "is_checkpoint",
    "record_hash",
]

#: ``prev_hash`` of the first record of every chain.
GENESIS_HASH = "0" * 64
#: ``stage`` and ``transition`` of checkpoint records.
CHECKPOINT: str = Transition.CHECKPOINT

#: Fields added to the schema after v1, in schema order. They are hashed only through
#: the trailing object (when not null), so v1 hashes stay valid. A field added to
#: ``AuditRecord.avsc`` must be named here too (``test_v1_hash_is_pinned`` fails until
#: it is): otherwise it would become part of the v1 array and change every hash.
LATER_FIELDS: tuple[str, ...] = ("producer_key_id", "original_content_hash", "amended_fields")
#: Every v1 AuditRecord field, in schema order: the schema's fields less LATER_FIELDS.
ALL_FIELDS: tuple[str, ...] = tuple(
    f for f in record_field_names(RecordName.AUDIT_RECORD) if f not in LATER_FIELDS
)
#: The fields the hash covers: all but ``hash`` itself.
HASHED_FIELDS: tuple[str, ...] = tuple(f for f in ALL_FIELDS if f != "hash")

_PREFIX = b"sluice.audit.v1\n"
_CHECKPOINT_PREFIX = b"sluice.audit.checkpoint.v1\n"
_KNOWN = frozenset(ALL_FIELDS)
_N_FIELDS = len(ALL_FIELDS)
_SIG_INDEX = HASHED_FIELDS.index("signature")
_values = operator.itemgetter(*HASHED_FIELDS)
_sha256 = hashlib.sha256

#: Fields a caller of :meth:`ChainWriter.append` may set (the writer owns the rest).
_SETTABLE = (_KNOWN | frozenset(LATER_FIELDS)) - {
    "chain",
    "seq",
    "prev_hash",
    "hash",
    "key_id",
    "signature",
}
#: A record before the caller's fields are applied. ``detectors`` is a tuple so the
#: shared default cannot be mutated through one record.
_TEMPLATE: dict[str, Any] = dict.fromkeys(ALL_FIELDS)
_TEMPLATE["detectors"] = ()

_META_RE = re.compile(r"sluice-audit/1:(0|[1-9][0-9]{0,18}):([0-9a-f]{64})")


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    """The bytes :func:`record_hash` digests (see the module docstring).

    Raises:
        TypeError: a value is not of an AuditRecord type (str, int, list of str, bytes).
    """
    try:
        values = _values(record)
    except KeyError:
        values = tuple(record.get(f) for f in HASHED_FIELDS)
    if values[_SIG_INDEX] is None and len(record) == _N_FIELDS:
        # The hot path: an ordinary record with exactly the v1 fields.
        return _PREFIX + orjson.dumps(values)
    items: list[Any] = list(values)
    sig = items[_SIG_INDEX]
    if sig is not None:
        items[_SIG_INDEX] = bytes(sig).hex()
    extra = {
        k: (v.hex() if isinstance(v, bytes | bytearray) else v)
        for k, v in record.items()
        if k not in _KNOWN and v is not None and v != [] and v != {}
    }
    if extra:
        items.append(extra)
    return _PREFIX + orjson.dumps(items, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    """Lowercase hex SHA-256 over :func:`canonical_bytes` of ``record``."""
    return _sha256(canonical_bytes(record)).hexdigest()


def checkpoint_message(chain: str, seq: int, prev_hash: str, at: int, key_id: str | None) -> bytes:
    """The bytes a checkpoint's Ed25519 signature covers."""
    return _CHECKPOINT_PREFIX + orjson.dumps([chain, seq, prev_hash, at, key_id])


def is_checkpoint(record: Mapping[str, Any]) -> bool:
    """True for a checkpoint record (by ``transition`` or ``stage``)."""
    return record.get("transition") == CHECKPOINT or record.get("stage") == CHECKPOINT


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain stands: what the next record links to.

    Stored by the worker in the committed-offset metadata of the source partition, in
    the same Kafka transaction as the audit records, so a restarted worker continues
    the chain exactly where the last committed transaction left it.
    """

    #: seq of the NEXT record (0 for a new chain).
    seq: int
    #: hash of the last record (:data:`GENESIS_HASH` for a new chain).
    hash: str

    @classmethod
    def genesis(cls) -> ChainHead:
        """The head of a chain with no records yet."""
        return cls(0, GENESIS_HASH)

    def to_metadata(self) -> str:
        """A short string (≈ 86 chars) for Kafka's committed-offset metadata."""
        return f"sluice-audit/1:{self.seq}:{self.hash}"

    @classmethod
    def from_metadata(cls, s: str | None) -> ChainHead | None:
        """Parse :meth:`to_metadata` output; ``None`` for None, empty or anything else."""
        if not s:
            return None
        m = _META_RE.fullmatch(s.strip())
        if m is None:
            return None
        seq, digest = int(m.group(1)), m.group(2)
        if (seq == 0) != (digest == GENESIS_HASH):
            return None
        return cls(seq, digest)


class ChainWriter:
    """Builds the records of one chain, in order; pure (no I/O), not thread-safe.

    One writer per chain at a time (the owner of the source partition). The caller
    produces the returned dicts in the order given, and commits :attr:`head` with them.

    Args:
        chain: chain id, ``intake:<p>`` or ``gate:<p>``.
        head: where to continue (from :meth:`ChainHead.from_metadata`); None starts at 0.
        signer: the service key for checkpoints; None writes an unsigned chain (no
            checkpoint records at all).
        checkpoint_every: a checkpoint follows every this many records.
    """

    __slots__ = (
        "_base",
        "_cp_next",
        "_cps",
        "_every",
        "_hash",
        "_open_seq",
        "_seq",
        "_signer",
        "chain",
    )

    def __init__(
        self,
        chain: str,
        head: ChainHead | None,
        *,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        head = head or ChainHead.genesis()
        self.chain = chain
        self._seq = head.seq
        self._hash = head.hash
        self._signer = signer
        self._every = checkpoint_every
        # seq right after the last checkpoint. On resume we do not know where it was;
        # counting from the resumed head delays the next one by at most one interval.
        self._cp_next = head.seq
        self._base = head.seq
        # seq after each recent checkpoint, so a rollback past one can restore the
        # schedule (a rollback undoes one transaction: a few entries suffice).
        self._cps: list[int] = []
        # seq after the opening checkpoint (None: not written yet, or rolled back).
        self._open_seq: int | None = None

    @property
    def head(self) -> ChainHead:
        """The head after every record returned so far."""
        return ChainHead(self._seq, self._hash)

    def append(self, **fields: Any) -> list[dict[str, Any]]:
        """Chain one transition record; see :meth:`append_fields`."""
        return self.append_fields(fields)

    def append_fields(self, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Chain one transition record.

        ``fields`` are AuditRecord fields (``stage`` and ``transition`` required);
        ``at`` defaults to now (ms). The writer fills chain, seq, prev_hash and hash.

        Returns:
            The record, preceded by the opening checkpoint on a writer's first append and
            followed by a signed checkpoint when one is due; produce them in this order.

        Raises:
            ValueError: an unknown or writer-owned field, a missing stage/transition, or
                a ``checkpoint`` transition (use :meth:`checkpoint`).
            TypeError: a value of a type the schema does not allow.
        """
        if not fields.keys() <= _SETTABLE:
            bad = sorted(set(fields) - _SETTABLE)
            raise ValueError(f"fields not settable on an audit record: {', '.join(bad)}")
        transition = fields.get("transition")
        stage = fields.get("stage")
        if transition is None or stage is None:
            raise ValueError("an audit record needs stage and transition")
        if transition == CHECKPOINT or stage == CHECKPOINT:
            raise ValueError("checkpoints are written by ChainWriter.checkpoint()")
        opening: dict[str, Any] | None = None
        if self._signer is not None and self._open_seq is None:
            opening = self._checkpoint(now_ms())
            self._open_seq = self._seq
        rec = _TEMPLATE.copy()
        rec.update(fields)
        rec["chain"] = self.chain
        rec["seq"] = self._seq
        rec["prev_hash"] = self._hash
        at = rec["at"]
        rec["at"] = now_ms() if at is None else int(at)
        digest = _sha256(canonical_bytes(rec)).hexdigest()
        rec["hash"] = digest
        self._seq += 1
        self._hash = digest
        out = [rec] if opening is None else [opening, rec]
        if self._signer is not None and self._seq - self._cp_next >= self._every:
            out.append(self._checkpoint(rec["at"]))
        return out

    def checkpoint(self) -> dict[str, Any] | None:
        """A signed checkpoint of the current head (on revoke or shutdown).

        Returns:
            The checkpoint record, or None when there is no signer or nothing was
            appended since the last checkpoint.
        """
        if self._signer is None or self._seq == self._cp_next:
            return None
        return self._checkpoint(now_ms())

    def rollback(self, head: ChainHead) -> None:
        """Reset to ``head`` (a value of :attr:`head` taken before an aborted transaction)."""
        self._seq = head.seq
        self._hash = head.hash
        if self._open_seq is not None and head.seq < self._open_seq:
            self._open_seq = None  # the opening checkpoint was undone: write it again
        cps = self._cps
        while cps and cps[-1] > head.seq:
            cps.pop()
        self._cp_next = cps[-1] if cps else min(self._base, head.seq)

    def _checkpoint(self, at: int) -> dict[str, Any]:
        signer = self._signer
        assert signer is not None  # noqa: S101 - callers check
        rec = _TEMPLATE.copy()
        rec["chain"] = self.chain
        rec["seq"] = self._seq
        rec["prev_hash"] = self._hash
        rec["stage"] = CHECKPOINT
        rec["transition"] = CHECKPOINT
        rec["at"] = at
        rec["key_id"] = signer.key_id
        rec["signature"] = signer.sign(
            checkpoint_message(self.chain, self._seq, self._hash, at, signer.key_id)
        )
        digest = record_hash(rec)
        rec["hash"] = digest
        self._seq += 1
        self._hash = digest
        self._cp_next = self._seq
        self._cps.append(self._seq)
        if len(self._cps) > 64:
            del self._cps[:32]
        return rec
