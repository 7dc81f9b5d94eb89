"""Tamper-evident audit trail: hash chains with signed checkpoints, verification, trace.

What is protected, and what is not:

- Each record's ``hash`` covers all its other fields and links to the previous record of
  its chain (``prev_hash``), so changing, removing, inserting, duplicating or reordering
  a record breaks the chain at that record, which ``sluice audit verify`` names.
- Without a key, anyone able to write to ``workflow.audit`` could recompute a consistent
  chain. Signed checkpoints (Ed25519, the sluice service key) pin the chain: every record
  up to the last checkpoint cannot be rewritten without the private key.
- After the last checkpoint, a truncated or rewritten tail is detected only against an
  expected head: the writers' committed heads (consumer-group offset metadata, stored in
  the same transaction as the records) or a head saved from an earlier
  ``verify --json``. A forged record appended to an idle chain is caught once the writer
  appends again (duplicate seq), or with the writers' committed heads.
- Not protected: an attacker with the service key, or one who can both rewrite the topic
  and the consumer groups' offsets beyond the last checkpoint. Kafka ACLs (only sluice
  may write ``workflow.audit``) are the first line; the chain is the tripwire.
"""

from sluice.audit.chain import (
    GENESIS_HASH,
    ChainHead,
    ChainWriter,
    canonical_bytes,
    checkpoint_message,
    record_hash,
)
from sluice.audit.keys import CheckpointSigner, key_id_for, load_public_keys
from sluice.audit.report import BrokenLink, ChainReport, VerifyReport
from sluice.audit.verify import Verifier, verify_records

__all__ = [
    "GENESIS_HASH",
    "BrokenLink",
    "ChainHead",
    "ChainReport",
    "ChainWriter",
    "CheckpointSigner",
    "Verifier",
    "VerifyReport",
    "canonical_bytes",
    "checkpoint_message",
    "key_id_for",
    "load_public_keys",
    "record_hash",
    "verify_records",
]
