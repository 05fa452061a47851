"""The Redis client the services' stores (fleet, orders, saga) build from a URL.

A pool that makes callers wait for a free connection instead of failing past its size, with
connect and call timeouts, so a Redis that hangs fails a call (and tidal retries the event)
rather than holding the handler forever. Called by each store's ``from_url``.
"""

from __future__ import annotations

from redis import asyncio as aioredis

WAIT_FOR_CONNECTION = 10.0  # seconds a call waits for a free connection of the pool
CONNECT_TIMEOUT = 5.0
CALL_TIMEOUT = 5.0


def pooled_client(url: str, *, max_connections: int = 128) -> aioredis.Redis:
    """A client over a blocking pool of at most ``max_connections`` (the client owns it)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=WAIT_FOR_CONNECTION,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=CALL_TIMEOUT,
    )
    return aioredis.Redis.from_pool(pool)
