"""Webhook replay protection: each signed request is published once within its tolerance window.

A webhook's signature covers ``"<timestamp>.<body>"`` and is accepted for ``tolerance_seconds``
either side of now, so a captured request could be replayed, and published again, for up to
that long. `Ingest` asks `Replays.claim` for the request's fingerprint (scheme, signed
timestamp, body) after the signature checks and before publishing: the first claim wins; a
replay of a request that was published is answered as the first one was (202, nothing
published); a replay while the first is still being published waits for its outcome, and is
refused (409, try again) only if that takes over 5 s; a request whose publishing failed releases
its claim, so the sender's retry (or the waiting twin) goes through.

Entries live until the signature would be refused anyway (timestamp + tolerance). `MemoryReplays`
keeps them in the process (bounded; one gateway replica); `RedisReplays` in Redis
(``GATEWAY_REDIS_URL``) so every replica shares them.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

PENDING: Final = "pending"
MAX_ENTRIES: Final = 100_000


def fingerprint(scheme: str, timestamp: int, body: bytes) -> str:
    """What a signature vouches for: the same for every replay of one signed request."""
    digest = hashlib.sha256(f"{scheme}.{timestamp}.".encode() + body).hexdigest()
    return f"tidal:gateway:replay:{digest}"


class Replays(Protocol):
    """Signed requests seen within their window."""

    async def claim(self, key: str, *, ttl: float) -> str | None:
        """None if ``key`` was free (now claimed, `PENDING`), else what it holds."""
        ...

    async def complete(self, key: str, value: str, *, ttl: float) -> None:
        """Record the answer given to the claimed request (replays get it back)."""

    async def release(self, key: str) -> None:
        """Forget a claim whose request failed (its sender will retry it)."""


class MemoryReplays:
    """Replays seen by this process, at most ``max_entries`` (the oldest go first)."""

    def __init__(
        self, *, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def claim(self, key: str, *, ttl: float) -> str | None:
        now = self.clock()
        held = self._entries.get(key)
        if held is not None and held[0] > now:
            return held[1]
        self._entries[key] = (now + ttl, PENDING)
        self._entries.move_to_end(key)
        self._trim(now)
        return None

    async def complete(self, key: str, value: str, *, ttl: float) -> None:
        self._entries[key] = (self.clock() + ttl, value)

    async def release(self, key: str) -> None:
        self._entries.pop(key, None)

    def _trim(self, now: float) -> None:
        while self._entries:
            oldest, (expires, _) = next(iter(self._entries.items()))
            if expires > now and len(self._entries) <= self.max_entries:
                return
            del self._entries[oldest]


class RedisReplays:
    """Replays seen by any replica, in Redis (``SET NX PX``: one atomic claim)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @classmethod
    def from_url(cls, url: str) -> RedisReplays:
        from redis.asyncio import Redis  # only when configured: the gateway runs without

        return cls(Redis.from_url(url))

    async def claim(self, key: str, *, ttl: float) -> str | None:
        millis = max(1, int(ttl * 1000))
        if await self.redis.set(key, PENDING, nx=True, px=millis):
            return None
        held = await self.redis.get(key)
        if held is None:  # expired between the two calls: claim again
            return await self.claim(key, ttl=ttl)
        return held.decode() if isinstance(held, bytes) else str(held)

    async def complete(self, key: str, value: str, *, ttl: float) -> None:
        await self.redis.set(key, value, px=max(1, int(ttl * 1000)))

    async def release(self, key: str) -> None:
        await self.redis.delete(key)

    async def close(self) -> None:
        await self.redis.aclose()


async def close_replays(replays: Replays) -> None:
    """Close what a replay cache holds open (`RedisReplays`' connections); the gateway's
    lifespan calls it on shutdown."""
    if isinstance(replays, RedisReplays):
        await replays.close()
