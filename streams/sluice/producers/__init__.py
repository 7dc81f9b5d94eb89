"""Producer authentication: who may publish events for which actors and workflows.

``actor`` in a WorkflowEvent is self-declared. With a producers registry configured
(``SLUICE_PRODUCERS_FILE``), intake accepts a record only when it carries a valid MAC
or signature of a registered producer key, and only for the actors and workflows that
key may speak for. Without the setting nothing changes (authentication is off).

Header format (``sluice.producer.v1``)
--------------------------------------

Two Kafka record headers, each exactly once:

- ``sluice-producer-key``: the key id, ASCII ``[A-Za-z0-9._:@-]{1,128}``.
- ``sluice-producer-sig``: standard base64 (RFC 4648, with padding) of the 32-byte
  HMAC-SHA256 tag or the 64-byte Ed25519 signature over :func:`signing_bytes`::

      b"sluice.producer.v1\\n"
      + u32be(len(key_id)) + key_id            (UTF-8)
      + u32be(len(topic))  + topic             (UTF-8, the topic written to, prefix included)
      + b"\\x00"                                (record key is null)
        | b"\\x01" + u32be(len(key)) + key      (record key bytes)
      + value                                  (the exact record value bytes)

Binding the key id stops a tag being presented under another key; binding the topic
stops a record signed for one topic (or one deployment's prefix) being replayed into
another; binding the record key stops a body being spliced under another key
(partition). The value is the Avro single-object bytes as sent, so the actor and
workflow inside cannot be changed without breaking the tag; which actors and workflows
the key may speak for is then checked against the decoded event. A verbatim replay of
a signed record is not stopped here: the ``occurred_at`` window and the gate's
``event_id`` handling bound what a replay can do.

Registry file (YAML; every key below, nothing else)::

    producers:
      - key_id: invoice-agent-2026-11
        algorithm: hmac-sha256            # or ed25519
        secret_file: /run/secrets/invoice-agent.key   # hmac-sha256 (relative: to this file)
        # public_key: "<base64 32-byte raw Ed25519 public key>"    # ed25519
        actors: [invoice-agent]           # exact ids, compared with identity.fold_id
        workflows: ["invoices-*", payroll] # exact ids or globs (* and ?), folded too
        revoked: false                    # optional
        description: "..."                # optional

Producer key file (``sluice emit --producer-key FILE`` / ``SLUICE_PRODUCER_KEY_FILE``)::

    format: sluice.producer-key.v1
    key_id: invoice-agent-2026-11
    algorithm: hmac-sha256
    secret: "<the same text as the registry's secret_file>"       # hmac-sha256
    # private_key: "<base64 32-byte raw Ed25519 private key>"    # ed25519
"""

from sluice.producers.loading import load_producers, producers_from_data
from sluice.producers.registry import ProducerKey, ProducerRegistry
from sluice.producers.signer import ProducerSigner, read_producer_key
from sluice.producers.wire import (
    ALGORITHMS,
    DOMAIN_TAG,
    HEADER_KEY,
    HEADER_SIG,
    KEY_FILE_FORMAT,
    signing_bytes,
)

__all__ = [
    "ALGORITHMS",
    "DOMAIN_TAG",
    "HEADER_KEY",
    "HEADER_SIG",
    "KEY_FILE_FORMAT",
    "ProducerKey",
    "ProducerRegistry",
    "ProducerSigner",
    "load_producers",
    "producers_from_data",
    "read_producer_key",
    "signing_bytes",
]
