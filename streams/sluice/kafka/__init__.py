"""Kafka edge: every call into the Kafka client libraries lives in this package.

Admin and client construction, record and header parsing, the transactional
outbox, committed chain heads and metadata refreshes. The rest of the runtime
talks to Kafka only through the public helpers here:

- :mod:`sluice.kafka.clients`: producers, consumers and admin clients from settings;
  :func:`refresh_metadata` and :func:`known_partitions`.
- :mod:`sluice.kafka.admin`: create sluice's topics (with their settings), describe, delete.
- :mod:`sluice.kafka.reads`: read a topic or partition to its current end.
- :mod:`sluice.kafka.outbox`: the records of one transaction; the producer's upkeep.
- :mod:`sluice.kafka.transport`: a stage's consumer, producer and outbox on aiokafka or
  librdkafka (:mod:`sluice.kafka.confluent`, :mod:`sluice.kafka.confluent_outbox`).
- :mod:`sluice.kafka.heads`: audit chain heads committed in offset metadata.
- :mod:`sluice.kafka.records`: fetched batches a hostile header name cannot poison
  (installed on import of this package, before any consumer fetches).
"""

from sluice.kafka import records as _records
from sluice.kafka.admin import (
    TopicReport,
    create_topics,
    delete_topics_with_prefix,
    describe_topic_configs,
)
from sluice.kafka.clients import (
    known_partitions,
    make_admin,
    make_consumer,
    make_producer,
    refresh_metadata,
)
from sluice.kafka.heads import Committed, committed_heads, partition_heads
from sluice.kafka.outbox import DeliveryFailed, Outbox, close_producer, restart_delays
from sluice.kafka.reads import TopicNotFound, read_partition, read_topic

__all__ = [
    "Committed",
    "DeliveryFailed",
    "Outbox",
    "TopicNotFound",
    "TopicReport",
    "close_producer",
    "committed_heads",
    "create_topics",
    "delete_topics_with_prefix",
    "describe_topic_configs",
    "known_partitions",
    "make_admin",
    "make_consumer",
    "make_producer",
    "partition_heads",
    "read_partition",
    "read_topic",
    "refresh_metadata",
    "restart_delays",
]

# A record whose header name is not UTF-8 must not stall a partition (sluice.kafka.records).
_records.install()
