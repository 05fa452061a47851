"""A Kafka worker app whose handler always fails, slowly, and logs every attempt in Redis.

Each run RPUSHes ``ctx.attempt`` to ``<run>:attempts:<id>`` before sleeping ``sleep`` seconds
(from the event's data) and failing retryably, so a test can SIGKILL the worker while handlers
are running and count how often each event's handler ran. ``TIDAL_TEST_REDIS_URL`` names the
Redis. Three attempts at most, retried after a tenth of a second.
"""

from __future__ import annotations

import asyncio
import os
from functools import cache

import redis.asyncio as aioredis

from tidal import App, Context, DeliveryPolicy, Event, RetryableError

MAX_ATTEMPTS = 3

app = App(
    "attempts",
    policy=DeliveryPolicy.of(max_attempts=MAX_ATTEMPTS, delay="PT0.1S", max_delay="PT0.1S"),
)


@cache
def client() -> aioredis.Redis:
    return aioredis.Redis.from_url(os.environ["TIDAL_TEST_REDIS_URL"])


@app.on(type="com.example.attempt.v1")
async def fail(event: Event, ctx: Context) -> None:
    await client().rpush(f"{event.data['run']}:attempts:{event.id}", ctx.attempt)
    await asyncio.sleep(float(event.data["sleep"]))
    raise RetryableError(f"attempt {ctx.attempt} fails, as every attempt does")
