"""4,000 mixed requests through the gateway into fleet and orders on the memory transport:
every outcome is checked against what `expectations` computes from the payloads alone.

The traffic has 10 % duplicates (requests sent again), about 1 % poison events (an unknown
vehicle; an order whose lines do not add up) and about 1 % client mistakes. The services run with
the production stores (readings, outboxes, stock and points in a real redis-server, receipts in
S3, moto in server mode) and the memory transport's idempotency records; the Kafka run
(`test_end_to_end_kafka`) keeps those in Redis too.

Exactness is the point, not the volume: the seeded 4,000 requests hold every outcome many times
(416 duplicates, 44 poison events, 49 mistakes, every alert kind, customers in every loyalty
tier, 401 high-value orders), and the scarce SKU sells out (20 orders refused out of stock, which
`assert_emitted` requires: a smaller run would fail there, not pass vacuously).
"""

from __future__ import annotations

import json
import random
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
from services.gateway.traffic import Credentials, Sent, Traffic
from services.orders.app import create_app as create_orders
from services.orders.receipts import S3ReceiptStore
from services.orders.stores import RedisOrdersStore
from tests.services.conftest import PAYMENT_SECRET, POS_SECRET, TOKEN
from tests.services.expectations import (
    SERVICES,
    assert_dead,
    assert_emitted,
    assert_state,
    expect,
)

from tidal._idempotency import Idempotency
from tidal.testing import MemoryBroker, MemoryIdempotencyStore

pytestmark = pytest.mark.integration

REQUESTS = 4_000


def traffic(requests: int = REQUESTS) -> list[Sent]:
    """The run's requests: 10 % duplicates, ~1 % poison, ~1 % client mistakes (seeded)."""
    stream = Traffic(
        random.Random(20261123),
        Credentials(token=TOKEN, pos_secret=POS_SECRET, payment_secret=PAYMENT_SECRET),
        duplicates=0.10,
        poison=0.01,
        mistakes=0.01,
    )
    sent = [stream.next() for _ in range(requests)]
    kinds = Counter(s.kind for s in sent)
    assert 0.09 < kinds["duplicate"] / requests < 0.11
    assert kinds["poison"] > requests / 200
    assert kinds["mistake"] > requests / 200
    return sent


def starting_stock() -> dict[str, int]:
    products = json.loads((SERVICES / "orders" / "products.json").read_text())["products"]
    return {p["sku"]: p["stock"] for p in products}


def check_answers(sent: list[Sent], answers: Counter[tuple[str, int]]) -> None:
    """The gateway took every request but the client mistakes, and refused those with 4xx."""
    assert {kind for kind, status in answers if status != 202} == {"mistake"}
    refused = sum(n for (kind, status), n in answers.items() if status in (401, 422))
    assert refused == sum(1 for s in sent if s.kind == "mistake")


async def test_mixed_requests_end_exactly_as_computed_from_their_payloads(
    redis_url: str, s3_bucket: tuple[Any, str], prefix: str
) -> None:
    sent = traffic()

    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=300, timeout=30)
    client = aioredis.Redis.from_pool(pool)
    fleet_store = RedisFleetStore(client, prefix=f"{prefix}:fleet")
    orders_store = RedisOrdersStore(
        client,
        prefix=f"{prefix}:orders",
        initial_stock=starting_stock(),
    )
    s3, bucket = s3_bucket
    apps = [
        create_fleet(fleet_store, vehicles=VehicleRegistry.load()),
        create_orders(orders_store, S3ReceiptStore(s3, bucket)),
    ]
    broker = MemoryBroker(apps, idempotency=Idempotency(MemoryIdempotencyStore()))
    settings = GatewaySettings(
        tokens=[TOKEN], pos_secrets=[POS_SECRET], payment_secrets=[PAYMENT_SECRET]
    )
    gateway = httpx.ASGITransport(app=create_gateway(broker, settings))
    answers: Counter[tuple[str, int]] = Counter()
    async with httpx.AsyncClient(transport=gateway) as http:
        for item in sent:
            response = await http.send(item.request)
            answers[(item.kind, response.status_code)] += 1
    await broker.drain()

    check_answers(sent, answers)
    want = expect(sent)
    await assert_state(want, fleet_store, orders_store, s3, bucket)
    assert_emitted(broker.published, want)
    assert_dead(broker.all_dead_letters(), want)
    await client.aclose()
