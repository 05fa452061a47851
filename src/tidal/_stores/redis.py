"""Idempotency records in Redis, each state change one atomic Lua script (no check-then-write).

`tidal run` builds it when ``TIDAL_IDEMPOTENCY__BACKEND=redis``; tests run it against a real
``redis-server``. Keys expire by Redis' own TTL (``PX``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tidal import _health as health
from tidal._errors import DependencyUnavailableError
from tidal._idempotency.records import Pending, Record, owner_mark

REDIS: Final = "redis"
CONNECT_TIMEOUT: Final = 5.0
TIMEOUT: Final = 5.0

# What an acquire does where a record is (`tidal._idempotency.records.successor`, the same
# rules): the stored form (`Record.encode`) starts with "a" (attempt) and "l" (lease in ms, 0:
# none) as plain integers, so the lease is stamped on Redis' clock and a takeover's attempt
# written in place.
TAKEOVER: Final = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function take(current, mine, now)
  local c, m = cjson.decode(current), cjson.decode(mine)
  local s = c['s']
  if c['t'] == m['t'] and s == 'in_progress' then return c['a'] or 1 end
  if s == 'completed' then return nil end
  if s == 'dead' then
    if m['x'] == true then return m['a'] end
    return nil
  end
  if s == 'in_progress' then
    local lease = tonumber(c['l']) or 0
    if lease <= 0 or lease > now then return nil end
  end
  if c['h'] == m['h'] then return (tonumber(c['a']) or 1) + 1 end
  return m['a']
end
local function stamped(mine, attempt, now)
  local out = string.gsub(mine, '^{"a":(%d+),"l":(%d+)', function(a, l)
    local lease = tonumber(l)
    if lease > 0 then lease = now + lease end
    return '{"a":' .. string.format('%d', attempt or tonumber(a)) .. ',"l":' ..
      string.format('%d', lease)
  end, 1)
  return out
end
local function acquire(key, mine, ttl, now)
  if redis.call('SET', key, stamped(mine, nil, now), 'NX', 'PX', ttl) then return false end
  local current = redis.call('GET', key)
  local attempt = take(current, mine, now)
  if attempt == nil then return current end
  local record = stamped(mine, attempt, now)
  redis.call('SET', key, record, 'PX', ttl)
  return record
end
"""
# Store the in-progress record (false), or return the record now there: the one that stands,
# or ours taking the key over as the next attempt.
ACQUIRE: Final = (
    TAKEOVER
    + """
return acquire(KEYS[1], ARGV[1], ARGV[2], now_ms())
"""
)
# Whose a record is, the scripts below learn from `tidal._idempotency.records.owner_mark`: the
# text a record's stored form holds exactly when its token is ours, found without decoding it.

# Overwrite only our own record (or an expired one): completed, failed or dead. ARGV[3]: our
# owner mark.
COMPLETE: Final = """
local current = redis.call('GET', KEYS[1])
if current and not string.find(current, ARGV[3], 1, true) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# Delete only our own record (ARGV[1]: our owner mark).
RELEASE: Final = """
local current = redis.call('GET', KEYS[1])
if current and string.find(current, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0
"""

# The same for many keys in one call (`CoalescingStore` batches callers into it): ARGV[1] is the
# TTL, ARGV[2] the records joined by newlines (JSON escapes its own); only the exceptions come
# back (positions of keys not stored as sent, with the record now there), usually none.
ACQUIRE_MANY: Final = (
    TAKEOVER
    + """
local taken, i, now = {}, 0, now_ms()
for record in string.gmatch(ARGV[2], '[^\\n]+') do
  i = i + 1
  local found = acquire(KEYS[i], record, ARGV[1], now)
  if found then
    taken[#taken + 1] = i
    taken[#taken + 1] = found
  end
end
return taken
"""
)
# ARGV[3]: the records' owner marks, newline-joined in the same order.
COMPLETE_MANY: Final = """
local refused, i, marks = {}, 0, {}
for mark in string.gmatch(ARGV[3], '[^\\n]+') do marks[#marks + 1] = mark end
for record in string.gmatch(ARGV[2], '[^\\n]+') do
  i = i + 1
  local current = redis.call('GET', KEYS[i])
  if current and not string.find(current, marks[i], 1, true) then
    refused[#refused + 1] = i
  else
    redis.call('SET', KEYS[i], record, 'PX', ARGV[1])
  end
end
return refused
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _by_ttl(items: Sequence[Pending]) -> dict[int, list[int]]:
    """Positions of ``items`` grouped by their TTL in milliseconds."""
    if items and all(ttl == items[0][2] for _, _, ttl in items):  # the usual case: one TTL
        return {_ms(items[0][2]): list(range(len(items)))}
    groups: dict[int, list[int]] = {}
    for position, (_, _, ttl) in enumerate(items):
        groups.setdefault(_ms(ttl), []).append(position)
    return groups


def _group(items: Sequence[Pending], positions: list[int]) -> Sequence[Pending]:
    return items if len(positions) == len(items) else [items[p] for p in positions]


class RedisIdempotencyStore:
    """`IdempotencyStore` over one Redis (or Valkey) database."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.health = health.dependency(REDIS, self.ping)  # down from a failed call until
        # one succeeds, or `ping` does (``/readyz`` probes it)
        self._acquire = client.register_script(ACQUIRE)
        self._complete = client.register_script(COMPLETE)
        self._release = client.register_script(RELEASE)
        self._acquire_many = client.register_script(ACQUIRE_MANY)
        self._complete_many = client.register_script(COMPLETE_MANY)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        max_connections: int = 100,
        connect_timeout: float = CONNECT_TIMEOUT,
        timeout: float = TIMEOUT,
    ) -> RedisIdempotencyStore:
        """A store over a pool that makes callers wait for a free connection (redis-py's
        default pool raises "Too many connections" past 100 concurrent calls). A connection
        not made within ``connect_timeout`` seconds, or a call unanswered for ``timeout``,
        fails as the store being down: a Redis that hangs pauses events like one that refuses
        (redis-py's own default is to wait forever)."""
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=20,
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
        )
        return cls(aioredis.Redis.from_pool(pool))  # the client closes the pool

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        found = await self._call(self._acquire, [key], [record.encode(), _ms(ttl)])
        return None if found is None else Record.decode(cast(bytes, found))

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        mark = owner_mark(record.token)
        done = await self._call(self._complete, [key], [record.encode(), _ms(ttl), mark])
        return bool(done)

    async def release(self, key: str, token: str) -> None:
        await self._call(self._release, [key], [owner_mark(token)])

    async def acquire_many(self, items: Sequence[Pending]) -> list[Record | None]:
        """`acquire` for each (key, record, ttl), one script call per distinct ttl."""
        found: list[Record | None] = [None] * len(items)
        for ttl, positions in _by_ttl(items).items():
            group = _group(items, positions)
            keys = [key for key, _, _ in group]
            records = "\n".join([record.encode() for _, record, _ in group])
            reply = cast(list[Any], await self._call(self._acquire_many, keys, [ttl, records]))
            for at, existing in zip(reply[::2], reply[1::2], strict=True):
                found[positions[at - 1]] = Record.decode(existing)
        return found

    async def complete_many(self, items: Sequence[Pending]) -> list[bool]:
        """`complete` for each (key, record, ttl), one script call per distinct ttl."""
        done = [True] * len(items)
        for ttl, positions in _by_ttl(items).items():
            group = _group(items, positions)
            keys = [key for key, _, _ in group]
            records = "\n".join([record.encode() for _, record, _ in group])
            marks = "\n".join([owner_mark(record.token) for _, record, _ in group])
            reply = cast(
                list[int], await self._call(self._complete_many, keys, [ttl, records, marks])
            )
            for at in reply:
                done[positions[at - 1]] = False
        return done

    async def get(self, key: str) -> Record | None:
        try:
            found = await self.client.get(key)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        self.health.up()
        return None if found is None else Record.decode(found)

    async def ping(self) -> None:
        """Raise unless Redis answers (``/readyz`` probes it while it is down)."""
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, script: object, keys: list[str], args: list[object]) -> object:
        try:
            reply = await script(keys=keys, args=args)  # type: ignore[operator]
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        self.health.up()
        return reply

    def _unavailable(self, exc: RedisError) -> DependencyUnavailableError:
        why = f"idempotency store unavailable: {exc}"
        self.health.down(why)
        return DependencyUnavailableError(why, dependency=REDIS)


async def ping(url: str, *, within: float = CONNECT_TIMEOUT) -> None:
    """Raise `DependencyUnavailableError` unless the Redis at ``url`` answers PING within
    ``within`` seconds: start-up checks (``tidal dev --kafka``), before any event is taken."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=within, socket_timeout=within)
    try:
        async with asyncio.timeout(within):
            await client.ping()
    except TimeoutError as exc:
        why = f"no answer within {within:g}s"
        raise DependencyUnavailableError(why, dependency=REDIS) from exc
    except RedisError as exc:
        raise DependencyUnavailableError(str(exc), dependency=REDIS) from exc
    finally:
        await client.aclose()
