"""The same 4,000 requests on the real path: gateway -> a Kafka-protocol broker -> the fleet
and orders consumer-group workers, with Redis and S3. Every outcome is checked against what
`expectations` computes from the payloads alone; emitted events and dead letters are read back
from the topics.

The broker is the session's (tansu on a free port, or ``TIDAL_KAFKA_BOOTSTRAP``). The gateway
takes requests 64 at a time, as a loaded server would, so duplicates race their originals.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from services.fleet.app import create_app as create_fleet
from services.fleet.stores import RedisFleetStore
from services.fleet.vehicles import VehicleRegistry
from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from services.orders.app import create_app as create_orders
from services.orders.receipts import S3ReceiptStore
from services.orders.stores import RedisOrdersStore
from tests.services.conftest import PAYMENT_SECRET, POS_SECRET, TOKEN
from tests.services.expectations import Expected, assert_dead, assert_emitted, assert_state, expect
from tests.services.test_end_to_end import check_answers, starting_stock, traffic
from tests.support.kafka import (
    create_topic,
    idempotence_supported,
    log_end_offsets,
    read_topic,
    unique,
)

from tidal import Event, Settings, open_publisher
from tidal._bindings.kafka import KafkaMessage, from_record, headers_from_list
from tidal._idempotency import Idempotency
from tidal._settings import KafkaSettings
from tidal._stores.redis import RedisIdempotencyStore
from tidal._transports.kafka import KafkaWorker

pytestmark = pytest.mark.integration
IN_FLIGHT = 64


def redis(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=200, timeout=30)
    return aioredis.Redis.from_pool(pool)


async def read_all(bootstrap: str, topic: str) -> list[Event]:
    """Every CloudEvent on ``topic`` up to its log end now (exact high watermarks: nothing to
    wait for once the producers are done)."""
    ends = await log_end_offsets(bootstrap, topic)
    records = await read_topic(bootstrap, topic, count=sum(ends.values()))
    return [
        from_record(KafkaMessage(headers=headers_from_list(r.headers), key=r.key, value=r.value))
        for r in records
    ]


async def settled(check: Any, *, within: float) -> None:
    """Wait until ``check()`` stops raising AssertionError (the workers caught up)."""
    deadline = time.monotonic() + within
    while True:
        try:
            await check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def test_mixed_requests_through_kafka_end_exactly_as_computed(
    kafka_bootstrap: str, redis_url: str, s3_bucket: tuple[Any, str], prefix: str
) -> None:
    sent = traffic()
    want: Expected = expect(sent)
    topic = unique("events")
    await create_topic(kafka_bootstrap, topic, partitions=4)
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topics=[topic],
        emit_topic=topic,
        group_id_prefix=unique("e2e"),
        idempotent_producer=idempotence_supported(kafka_bootstrap),
        topic_partitions=4,
    )
    settings = Settings(kafka=kafka)
    state = redis(redis_url)
    fleet_store = RedisFleetStore(state, prefix=f"{prefix}:fleet")
    orders_store = RedisOrdersStore(
        state, prefix=f"{prefix}:orders", initial_stock=starting_stock()
    )
    s3, bucket = s3_bucket
    workers = [
        KafkaWorker(
            app,
            settings,
            idempotency=Idempotency(RedisIdempotencyStore(redis(redis_url))),
        )
        for app in (
            create_fleet(fleet_store, vehicles=VehicleRegistry.load()),
            create_orders(orders_store, S3ReceiptStore(s3, bucket)),
        )
    ]
    gateway_settings = GatewaySettings(
        tokens=[TOKEN], pos_secrets=[POS_SECRET], payment_secrets=[PAYMENT_SECRET]
    )
    answers: Counter[tuple[str, int]] = Counter()
    await asyncio.gather(*(worker.start() for worker in workers))  # the groups join together
    try:
        await _run(sent, settings, gateway_settings, answers)
        check_answers(sent, answers)
        await settled(lambda: assert_state(want, fleet_store, orders_store, s3, bucket), within=240)
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))
    assert_emitted(await read_all(kafka_bootstrap, topic), want)
    assert_dead(await read_all(kafka_bootstrap, f"{topic}.dlq"), want)
    await state.aclose()


async def _run(
    sent: list[Any],
    settings: Settings,
    gateway_settings: GatewaySettings,
    answers: Counter[tuple[str, int]],
) -> None:
    """Post every request through the gateway, ``IN_FLIGHT`` at a time."""
    async with open_publisher(settings, transport="kafka") as publisher:
        transport = httpx.ASGITransport(app=create_gateway(publisher, gateway_settings))
        slots = asyncio.Semaphore(IN_FLIGHT)
        async with httpx.AsyncClient(transport=transport) as http:

            async def post(kind: str, request: httpx.Request) -> None:
                async with slots:
                    response = await http.send(request)
                answers[(kind, response.status_code)] += 1

            await asyncio.gather(*(post(s.kind, s.request) for s in sent))
