"""Idempotency records in Redis, each state change one atomic Lua script (no check-then-write).

`tidal run` builds it when ``TIDAL_IDEMPOTENCY__BACKEND=redis``; tests run it against a real
``redis-server``. Keys expire by Redis' own TTL (``PX``).
"""

from __future__ import annotations

from typing import Final, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tidal.errors import RetryableError
from tidal.idempotency import Record

# SET NX: store the in-progress record, or return the record already there.
ACQUIRE: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
"""
# Overwrite only our own in-progress record (or an expired one).
COMPLETE: Final = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['t'] ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# Delete only our own record.
RELEASE: Final = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['t'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisIdempotencyStore:
    """`IdempotencyStore` over one Redis (or Valkey) database."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._acquire = client.register_script(ACQUIRE)
        self._complete = client.register_script(COMPLETE)
        self._release = client.register_script(RELEASE)

    @classmethod
    def from_url(cls, url: str) -> RedisIdempotencyStore:
        return cls(aioredis.Redis.from_url(url))

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        found = await self._call(self._acquire, [key], [record.to_json(), _ms(ttl)])
        return None if found is None else Record.from_json(cast(bytes, found))

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        done = await self._call(self._complete, [key], [record.to_json(), _ms(ttl), record.token])
        return bool(done)

    async def release(self, key: str, token: str) -> None:
        await self._call(self._release, [key], [token])

    async def get(self, key: str) -> Record | None:
        try:
            found = await self.client.get(key)
        except RedisError as exc:
            raise RetryableError(f"idempotency store unavailable: {exc}") from exc
        return None if found is None else Record.from_json(found)

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, script: object, keys: list[str], args: list[object]) -> object:
        try:
            return await script(keys=keys, args=args)  # type: ignore[operator]
        except RedisError as exc:
            raise RetryableError(f"idempotency store unavailable: {exc}") from exc
