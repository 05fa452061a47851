"""A Kafka worker app whose handler has a side effect in Redis, guarded by idempotency.

Each handled event INCRs ``<run>:count:<id>`` (how often the side effect happened), adds its id
to ``<run>:seen`` and counts it under the worker's pid in ``<run>:by``, in one MULTI; ``sleep``
in the data slows the handler down. ``TIDAL_TEST_REDIS_URL`` names the Redis.
"""

from __future__ import annotations

import asyncio
import os
from functools import cache

import redis.asyncio as aioredis

from tidal import App, DeliveryPolicy, Event

app = App("effects", policy=DeliveryPolicy.of(max_attempts=30, delay="PT0.2S", max_delay="PT1S"))


@cache
def client() -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        os.environ["TIDAL_TEST_REDIS_URL"], max_connections=50
    )
    return aioredis.Redis.from_pool(pool)


@app.on(type="com.example.effect.v1")
async def effect(event: Event) -> None:
    if event.data.get("sleep"):
        await asyncio.sleep(float(event.data["sleep"]))
    run = event.data["run"]
    async with client().pipeline(transaction=True) as pipe:
        pipe.incr(f"{run}:count:{event.id}")
        pipe.sadd(f"{run}:seen", event.id)
        pipe.hincrby(f"{run}:by", str(os.getpid()), 1)
        await pipe.execute()
