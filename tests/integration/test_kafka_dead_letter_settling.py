"""On a real broker: a record redelivered after its dead letter was sent (the same CloudEvent
produced again, as a source whose acknowledgement was lost does) is a duplicate, not a second
dead letter; the same record re-driven (``tidal-run`` header, `tidal dlq redrive`) runs
again, also when its retry goes round the retry topic."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from tests.services.test_end_to_end_kafka import read_all
from tests.support.kafka import create_topic, eventually, produce, unique, worker_settings

from tidal import App, DeliveryPolicy, Event, InvalidEventError, RetryableError
from tidal._bindings.kafka import to_record
from tidal._idempotency import Idempotency
from tidal._idempotency.copies import RUN_HEADER
from tidal._stores.redis import RedisIdempotencyStore
from tidal._transports.kafka import KafkaWorker

pytestmark = pytest.mark.integration


def record(event: Event, *marks: tuple[str, bytes]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    message = to_record(event)
    return b"a.jpg", message.value, [*message.headers.items(), *marks]


async def test_a_redelivered_record_is_not_dead_lettered_twice_and_a_redriven_one_runs(
    kafka_bootstrap: str, redis_url: str
) -> None:
    topic = unique("settle")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    app = App("images", policy=DeliveryPolicy.of(max_attempts=2, delay="PT0.1S"))
    attempts: list[int] = []

    @app.on(type="com.example.image.v1")
    async def thumbnail(event: Event) -> None:
        attempts.append(1)
        if len(attempts) == 2:  # the re-driven copy's first attempt: round the retry topic
            raise RetryableError("store busy")
        raise InvalidEventError("corrupt image data")

    settings = worker_settings(kafka_bootstrap, topic=topic, dlq_topic=f"{topic}.dlq")
    redis = aioredis.Redis.from_url(redis_url)
    worker = KafkaWorker(app, settings, idempotency=Idempotency(RedisIdempotencyStore(redis)))
    event = Event.create(
        type="com.example.image.v1", source="/bucket", id=unique("n"), data={"key": "a.jpg"}
    )

    async def letters(count: int) -> bool:
        return len(await read_all(kafka_bootstrap, f"{topic}.dlq")) >= count

    await worker.start()
    try:
        await produce(kafka_bootstrap, topic, [record(event)])
        await eventually(lambda: letters(1), within=60, what="the first dead letter")
        await produce(kafka_bootstrap, topic, [record(event)])  # redelivered
        await asyncio.sleep(2.0)
        assert len(attempts) == 1
        await produce(kafka_bootstrap, topic, [record(event, (RUN_HEADER, b"redrive-1"))])
        await eventually(lambda: letters(2), within=60, what="the re-driven copy's letter")
    finally:
        await worker.stop()
        await redis.aclose()
    assert len(attempts) == 3  # once, never for the redelivery, twice for the re-drive
    assert len(await read_all(kafka_bootstrap, f"{topic}.dlq")) == 2
