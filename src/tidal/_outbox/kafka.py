"""The relay's Kafka producer (aiokafka): sends `OutboxRecord`s and waits for acknowledgements.

`relay` calls `KafkaSink`, built from `KafkaSettings` by `tidal.kafka.producer` (the worker's
connection and security options, ``acks=all``); the idempotent producer follows
``idempotent_producer`` (on by default; brokers without InitProducerId, such as tansu, need it
off).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tidal._outbox.records import OutboxRecord
from tidal._settings import KafkaSettings
from tidal.kafka import producer


class KafkaSink:
    """Produces records; `send` returns once the broker acknowledged every one of them."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._producer = producer(kafka, enable_idempotence=kafka.idempotent_producer, linger_ms=5)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, records: Sequence[OutboxRecord]) -> None:
        """Send in order (one aggregate's records share a key, so a partition); raise if any
        was not acknowledged."""
        futures = [
            await self._producer.send(r.topic, r.value, key=r.key, headers=r.headers)
            for r in records
        ]
        await asyncio.gather(*futures)
