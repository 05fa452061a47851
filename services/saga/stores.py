"""Where the saga's state lives: one record per order, its timeline, stock and step deadlines.

`SagaStore` is the port the handlers use; `RedisSagaStore` is production (one hash per order,
a list for its timeline, a sorted set of deadlines, a counter per SKU), `MemorySagaStore`
serves `tidal dev` and tests. `change` applies a `services.saga.states` transition atomically:
Redis re-runs it if the order's record or one of its SKUs' stock changed meanwhile (``WATCH``),
so concurrent deliveries serialise per order and stock never goes below zero.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from services.redis_clients import pooled_client
from services.saga.states import Snapshot, T, Transition, Writes
from tidal import RetryableError

Clock = Callable[[], float]
MEMBER_SEPARATOR: Final = ":"  # deadline members are "<step>:<order id>" (steps have no ':')


class SagaStore(Protocol):
    async def change(
        self, order_id: str, transition: Transition[T], *, skus: Sequence[str] = ()
    ) -> T:
        """Apply ``transition`` to the order's state (and ``skus``' stock) atomically."""
        ...

    async def state(self, order_id: str) -> dict[str, str]:
        """The order's stored fields (empty: no saga for it)."""
        ...

    async def timeline(self, order_id: str) -> list[dict[str, str]]:
        """``{at, step, status}`` entries in the order they happened."""
        ...

    async def history(self, order_id: str) -> tuple[dict[str, str], list[dict[str, str]]]:
        """`state` and `timeline` read together, as of one moment (no change in between)."""
        ...

    async def due(self, now: float, *, limit: int) -> list[tuple[str, str]]:
        """(order id, step) pairs whose deadline is at or before ``now``."""
        ...

    async def seed_stock(self, stock: Mapping[str, int], *, overwrite: bool = False) -> None: ...

    async def stock(self, sku: str) -> int | None: ...


def _entry(at: float, step: str, status: str) -> str:
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return json.dumps({"at": stamp.replace("+00:00", "Z"), "step": step, "status": status})


def _member(step: str, order_id: str) -> str:
    return f"{step}{MEMBER_SEPARATOR}{order_id}"


def _split(member: str) -> tuple[str, str]:
    step, _, order_id = member.partition(MEMBER_SEPARATOR)
    return order_id, step


@dataclass
class MemorySagaStore:
    """`SagaStore` in process memory (atomic: nothing is awaited between read and write)."""

    levels: dict[str, int] = field(default_factory=dict)
    records: dict[str, dict[str, str]] = field(default_factory=dict)
    timelines: dict[str, list[str]] = field(default_factory=dict)
    deadlines: dict[str, float] = field(default_factory=dict)
    clock: Clock = time.time

    async def change(
        self, order_id: str, transition: Transition[T], *, skus: Sequence[str] = ()
    ) -> T:
        fields = self.records.get(order_id, {})
        result, writes = transition(Snapshot(dict(fields), {s: self.levels.get(s) for s in skus}))
        self.records[order_id] = {**fields, **writes.fields}
        for sku, delta in writes.stock.items():
            self.levels[sku] = self.levels.get(sku, 0) + delta
        now = self.clock()
        lines = self.timelines.setdefault(order_id, [])
        lines.extend(_entry(now, step, status) for step, status in writes.timeline)
        for step in writes.cleared:
            self.deadlines.pop(_member(step, order_id), None)
        for step, at in writes.due.items():
            self.deadlines[_member(step, order_id)] = at
        return result

    async def state(self, order_id: str) -> dict[str, str]:
        return dict(self.records.get(order_id, {}))

    async def timeline(self, order_id: str) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.timelines.get(order_id, [])]

    async def history(self, order_id: str) -> tuple[dict[str, str], list[dict[str, str]]]:
        return await self.state(order_id), await self.timeline(order_id)

    async def due(self, now: float, *, limit: int) -> list[tuple[str, str]]:
        ready = sorted((at, m) for m, at in self.deadlines.items() if at <= now)
        return [_split(m) for _, m in ready[:limit]]

    async def seed_stock(self, stock: Mapping[str, int], *, overwrite: bool = False) -> None:
        for sku, level in stock.items():
            if overwrite or sku not in self.levels:
                self.levels[sku] = level

    async def stock(self, sku: str) -> int | None:
        return self.levels.get(sku)


class RedisSagaStore:
    """`SagaStore` in Redis; keys start with ``{prefix}`` (one hash slot, so the transactions
    over an order and its stock also run on Redis Cluster); an order's keys expire ``ttl``
    seconds after its last change."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "saga",
        ttl: int = 30 * 86400,
        clock: Clock = time.time,
        initial_stock: Mapping[str, int] | None = None,
    ) -> None:
        """``initial_stock``: levels set where none is, before the first change."""
        self.redis, self._prefix, self._ttl, self._clock = redis, prefix, ttl, clock
        self._seed = initial_stock

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 128, **options: Any) -> RedisSagaStore:
        """A store over `pooled_client` (waits for a free connection; calls time out)."""
        return cls(pooled_client(url, max_connections=max_connections), **options)

    def _order(self, order_id: str) -> str:
        return f"{{{self._prefix}}}:order:{order_id}"

    def _timeline(self, order_id: str) -> str:
        """Its own segment: ``{order key}:timeline`` would be the record of the (valid) order
        id ``<id>:timeline``."""
        return f"{{{self._prefix}}}:timeline:{order_id}"

    def _stock(self, sku: str) -> str:
        return f"{{{self._prefix}}}:stock:{sku}"

    @property
    def _deadlines(self) -> str:
        return f"{{{self._prefix}}}:deadlines"

    async def change(
        self, order_id: str, transition: Transition[T], *, skus: Sequence[str] = ()
    ) -> T:
        if self._seed is not None:
            await self.seed_stock(self._seed)
            self._seed = None
        key, stock_keys = self._order(order_id), [self._stock(s) for s in skus]
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        return await self._attempt(
                            pipe, order_id, key, skus, stock_keys, transition
                        )
                    except WatchError:
                        continue  # someone changed this order or its stock: read again
        except RedisError as exc:
            raise RetryableError(f"saga store unavailable: {exc}") from exc

    async def _attempt(
        self,
        pipe: Any,
        order_id: str,
        key: str,
        skus: Sequence[str],
        stock_keys: list[str],
        transition: Transition[T],
    ) -> T:
        await pipe.watch(key, *stock_keys)
        raw = await pipe.hgetall(key)
        levels = await pipe.mget(stock_keys) if stock_keys else []
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        stock = {s: None if v is None else int(v) for s, v in zip(skus, levels, strict=True)}
        result, writes = transition(Snapshot(fields, stock))
        if _empty(writes):
            await pipe.unwatch()
            return result
        pipe.multi()
        self._queue(pipe, order_id, key, writes)
        await pipe.execute()
        return result

    def _queue(self, pipe: Any, order_id: str, key: str, writes: Writes) -> None:
        now, timeline = self._clock(), self._timeline(order_id)
        if writes.fields:
            pipe.hset(key, mapping=writes.fields)
        for sku, delta in writes.stock.items():
            pipe.incrby(self._stock(sku), delta)
        if writes.timeline:
            pipe.rpush(timeline, *(_entry(now, s, status) for s, status in writes.timeline))
        if writes.cleared:
            pipe.zrem(self._deadlines, *(_member(s, order_id) for s in writes.cleared))
        if writes.due:
            pipe.zadd(self._deadlines, {_member(s, order_id): at for s, at in writes.due.items()})
        pipe.expire(key, self._ttl)
        pipe.expire(timeline, self._ttl)

    async def state(self, order_id: str) -> dict[str, str]:
        raw = await self._call(self.redis.hgetall(self._order(order_id)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def timeline(self, order_id: str) -> list[dict[str, str]]:
        lines = await self._call(self.redis.lrange(self._timeline(order_id), 0, -1))
        return [json.loads(line) for line in lines]

    async def history(self, order_id: str) -> tuple[dict[str, str], list[dict[str, str]]]:
        """One ``MULTI``: a change writes the record and its timeline in one transaction, so
        the two read here always agree."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._order(order_id))
                pipe.lrange(self._timeline(order_id), 0, -1)
                raw, lines = await pipe.execute()
        except RedisError as exc:
            raise RetryableError(f"saga store unavailable: {exc}") from exc
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return fields, [json.loads(line) for line in lines]

    async def due(self, now: float, *, limit: int) -> list[tuple[str, str]]:
        members = await self._call(
            self.redis.zrangebyscore(self._deadlines, "-inf", now, start=0, num=limit)
        )
        return [_split(m.decode()) for m in members]

    async def seed_stock(self, stock: Mapping[str, int], *, overwrite: bool = False) -> None:
        for sku, level in stock.items():
            await self._call(self.redis.set(self._stock(sku), level, nx=not overwrite))

    async def stock(self, sku: str) -> int | None:
        value = await self._call(self.redis.get(self._stock(sku)))
        return None if value is None else int(value)

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except RedisError as exc:
            raise RetryableError(f"saga store unavailable: {exc}") from exc

    async def aclose(self) -> None:
        await self.redis.aclose()


def _empty(writes: Writes) -> bool:
    return not (writes.fields or writes.stock or writes.timeline or writes.cleared or writes.due)
