"""A Kafka worker app whose handler always fails: a poison event, attempted until dead-lettered.

Every attempt INCRs ``<run>:attempts:<id>`` in Redis (``TIDAL_TEST_REDIS_URL``) before failing,
so a test can count attempts across worker restarts. Four attempts, 2 s apart.
"""

from __future__ import annotations

import os
from functools import cache

import redis.asyncio as aioredis

from tidal import App, DeliveryPolicy, Event

ATTEMPTS = 4

app = App(
    "poison",
    policy=DeliveryPolicy.of(
        max_attempts=ATTEMPTS, backoff="linear", delay="PT2S", max_delay="PT2S", jitter=False
    ),
)


@cache
def client() -> aioredis.Redis:
    return aioredis.Redis.from_url(os.environ["TIDAL_TEST_REDIS_URL"])


@app.on(type="com.example.poison.v1")
async def poison(event: Event) -> None:
    await client().incr(f"{event.data['run']}:attempts:{event.id}")
    raise RuntimeError("poisoned on purpose")
