"""The relay's Kafka producer (aiokafka): sends `OutboxRecord`s and waits for acknowledgements.

`relay` calls `KafkaSink`. ``acks=all``; the idempotent producer is on by default (brokers
without InitProducerId, such as tansu, need ``idempotent=False``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from tidal._outbox.records import OutboxRecord


class KafkaSink:
    """Produces records; `send` returns once the broker acknowledged every one of them."""

    def __init__(self, bootstrap_servers: str, *, idempotent: bool = True) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=5,
        )

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
