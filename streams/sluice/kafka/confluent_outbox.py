"""The records of one transaction on librdkafka (``SLUICE_KAFKA_CLIENT=confluent``).

librdkafka builds the batches itself: a record is queued with ``produce`` and sent by
its threads. Only failed deliveries are reported back; :meth:`CkOutbox.delivered` waits
for every record of the transaction to be acknowledged before the stage commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError as CkError
from confluent_kafka import KafkaException

from sluice.kafka.confluent import CkFailure, CkProducer, translate
from sluice.kafka.outbox import DeliveryFailed

__all__ = ["CkOutbox"]

#: Bound (seconds) on waiting for acknowledgements when no timeout is given.
_ACK_TIMEOUT_S = 30.0


class CkOutbox:
    """The records of one transaction, queued in librdkafka (it builds the batches)."""

    def __init__(self, producer: CkProducer, partitions: dict[str, list[int]]) -> None:
        del partitions  # librdkafka partitions by key itself (murmur2, as the Java client)
        self._producer = producer

    async def add(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one record (partition by key when not given), with ``headers``."""
        part = -1 if partition is None else partition
        hdrs: list[tuple[str, str | bytes | None]] | None = list(headers) if headers else None
        while True:
            try:
                self._producer.produce(topic, value, key, part, hdrs)
                return
            except BufferError:
                await self._producer.poll(0.05)  # local queue full: let batches go out
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, CkError) and err.code() == CkError.MSG_SIZE_TOO_LARGE:
                    raise ValueError("record larger than the producer's max batch size") from None
                raise translate(exc) from None

    async def flush(self) -> None:
        """Nothing to hand over: librdkafka sends as records are queued."""

    async def delivered(self, timeout_s: float | None = None) -> None:
        """Wait until the broker acknowledged every record of this transaction.

        Raises:
            DeliveryFailed: a record failed (named by its error) or was not acknowledged
                within ``timeout_s``.
        """
        left = await self._producer.flush(_ACK_TIMEOUT_S if timeout_s is None else timeout_s)
        failed = self._producer.take_failures()
        if failed:
            raise DeliveryFailed(failed[0]) from CkFailure(failed[0])
        if left:
            raise DeliveryFailed("TimeoutError") from TimeoutError(
                f"{left} record(s) not acknowledged within {timeout_s}s"
            )
