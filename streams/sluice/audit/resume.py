"""Resuming ``audit verify`` at the last verified signed checkpoints (``--since-checkpoint``).

A never-expiring audit topic only grows; a daily verification should read what was
written since the last one, not the topic from offset 0. After a run in which every
chain verified, ``--state FILE`` saves, per chain, its last checkpoint whose signature
verified (seq, hash, partition, offset) and the head the run reached, and per partition
the lowest offset of a record at or after such a checkpoint (or the run's end). The next
run with ``--since-checkpoint`` starts each chain at its checkpoint and each partition
at that offset; chains that appear later start at seq 0 as always.

The file is not trusted. Before resuming, every checkpoint it names is re-read from
Kafka at its partition and offset and must be that chain's checkpoint at that seq, with
that hash, an intact hash and a signature that verifies with the configured public keys;
the verifier then checks it again as the first record of its chain, and each chain must
still reach the head the file saved (and the writers' committed heads). A missing or
unreadable file, another topic, or any checkpoint that fails: the run reads everything
from offset 0, as without the flag (and says why). So an edited checkpoint can only make
the run start at another genuine signed checkpoint (whose signed ``prev_hash`` commits to
everything before it) or from the beginning. An edited partition offset that starts
*later* skips records: inside a chain that shows as a seq gap, at a chain's end as a
truncated chain against the saved head or the writers' committed heads. Keep the file
where only the verification job can write it.

Limit: a record claiming a seq before its chain's checkpoint in another partition is
history the earlier run verified and is skipped; a forged one written there since is
found only by a full run. Run one now and then (say weekly) without the flag.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from sluice.audit.chain import ChainHead, checkpoint_message, is_checkpoint, record_hash

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from sluice.settings import Settings

__all__ = [
    "STATE_VERSION",
    "CheckpointRef",
    "ResumePoint",
    "ResumeState",
    "check_checkpoint_record",
    "check_checkpoints",
    "load_state",
    "save_state",
]

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class CheckpointRef:
    """A signed checkpoint record: its seq and hash, and where it is in the topic."""

    seq: int
    hash: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """A checkpoint re-read from Kafka and verified: where its chain resumes."""

    ref: CheckpointRef
    #: the checkpoint's ``prev_hash`` (signed): what its chain links to before it.
    prev_hash: str


@dataclass(frozen=True, slots=True)
class ResumeState:
    """What a successful run saves for the next one (see the module docstring)."""

    topic: str
    checkpoints: dict[str, CheckpointRef]
    heads: dict[str, ChainHead]
    starts: dict[int, int]

    def to_json(self) -> bytes:
        """The state file's bytes."""
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                "topic": self.topic,
                "checkpoints": {
                    c: {"seq": r.seq, "hash": r.hash, "partition": r.partition, "offset": r.offset}
                    for c, r in sorted(self.checkpoints.items())
                },
                "heads": {c: {"seq": h.seq, "hash": h.hash} for c, h in sorted(self.heads.items())},
                "starts": {str(p): o for p, o in sorted(self.starts.items())},
            },
            option=orjson.OPT_INDENT_2,
        )


def _nat(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise ValueError("not a non-negative integer")
    return v


def _hex64(v: Any) -> str:
    if not (isinstance(v, str) and len(v) == 64 and all(ch in "0123456789abcdef" for ch in v)):
        raise ValueError("not a sha-256 hex digest")
    return v


def load_state(path: Path, topic: str) -> tuple[ResumeState | None, str | None]:
    """The state saved for ``topic`` in ``path``, or None and why it cannot be used
    (missing, unreadable, another topic, not in shape): the caller then reads from 0."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None, f"no state file {path} yet"
    except (OSError, orjson.JSONDecodeError):
        return None, f"state file {path} is unreadable"
    try:
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("unknown version")
        if data.get("topic") != topic:
            return None, f"state file {path} is for topic {data.get('topic')!r}"
        cps = {
            str(c): CheckpointRef(
                _nat(r["seq"]), _hex64(r["hash"]), _nat(r["partition"]), _nat(r["offset"])
            )
            for c, r in data["checkpoints"].items()
        }
        heads = {
            str(c): ChainHead(_nat(h["seq"]), _hex64(h["hash"])) for c, h in data["heads"].items()
        }
        starts = {_nat(int(p)): _nat(o) for p, o in data["starts"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, f"state file {path} is not in the expected shape"
    return ResumeState(topic, cps, heads, starts), None


def save_state(path: Path, state: ResumeState) -> None:
    """Write ``state`` to ``path`` atomically (a crash leaves the old file or the new)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(state.to_json())
    os.replace(tmp, path)


def check_checkpoint_record(
    chain: str,
    ref: CheckpointRef,
    record: Mapping[str, Any] | None,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> str | None:
    """Why ``record`` (read at ``ref``'s place) is not ``chain``'s signed checkpoint."""
    from sluice.audit.keys import verify_signature

    where = f"partition {ref.partition} offset {ref.offset}"
    if record is None:
        return f"no AuditRecord at {where}"
    if record.get("chain") != chain or record.get("seq") != ref.seq or not is_checkpoint(record):
        return f"the record at {where} is not the checkpoint of {chain} at seq {ref.seq}"
    if record.get("hash") != ref.hash or record_hash(record) != ref.hash:
        return f"the checkpoint at {where} does not have the saved hash"
    key = public_keys.get(record.get("key_id") or "")
    sig, at, prev = record.get("signature"), record.get("at"), record.get("prev_hash")
    if key is None or sig is None or type(at) is not int or not isinstance(prev, str):
        return f"the checkpoint at {where} is not signed by a given key"
    message = checkpoint_message(chain, ref.seq, prev, at, record.get("key_id"))
    if not verify_signature(key, bytes(sig), message):
        return f"the checkpoint at {where} has a bad signature"
    return None


async def check_checkpoints(
    settings: Settings,
    topic: str,
    state: ResumeState,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    timeout_s: float = 30.0,
) -> tuple[dict[str, ResumePoint], str | None]:
    """Re-read every checkpoint ``state`` names and verify it (module docstring).

    Returns:
        chain → resume point, and None; or ({}, why not) when any one fails.
    """
    from aiokafka import TopicPartition

    from sluice.codec import default_codec
    from sluice.errors import DecodeError
    from sluice.kafka.clients import make_consumer, refresh_metadata

    if not state.checkpoints:
        return {}, "the state file names no checkpoint"
    codec = default_codec()
    consumer = make_consumer(settings, group_id=None, auto_offset_reset="earliest")
    points: dict[str, ResumePoint] = {}
    try:
        await consumer.start()
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await refresh_metadata(consumer)  # the first metadata may not name the topic
            parts = consumer.partitions_for_topic(topic) or set()
        for chain, ref in state.checkpoints.items():
            if ref.partition not in parts:
                return {}, f"{topic} has no partition {ref.partition} (checkpoint of {chain})"
        # One assignment for all: re-assigning a group-less aiokafka consumer leaves a
        # cancelled task behind that its stop() then raises.
        consumer.assign(
            [
                TopicPartition(topic, p)
                for p in sorted({r.partition for r in state.checkpoints.values()})
            ]
        )
        for chain, ref in sorted(state.checkpoints.items()):
            tp = TopicPartition(topic, ref.partition)
            consumer.seek(tp, ref.offset)
            record: dict[str, Any] | None = None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            got = None
            while got is None and loop.time() < deadline:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
                got = next(iter(batch.get(tp, ())), None)
            if got is not None and got.offset == ref.offset and got.value is not None:
                try:
                    name, decoded = codec.decode_any(got.value)
                    record = decoded if name == "AuditRecord" else None
                except DecodeError:
                    record = None
            why = check_checkpoint_record(chain, ref, record, public_keys)
            if why is not None:
                return {}, why
            prev = record["prev_hash"] if record is not None else ""
            points[chain] = ResumePoint(ref, prev)
    finally:
        # Let the consumer's group-less coordinator task start: stopping it before it
        # ever ran raises CancelledError out of stop().
        await asyncio.sleep(0)
        await consumer.stop()
    return points, None
