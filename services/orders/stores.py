"""Where the orders service keeps state: stock, loyalty points and payments, each change once.

`OrdersStore` is the port; `RedisOrdersStore` is production, `MemoryOrdersStore` serves
`tidal dev` and tests. Every change is keyed by the order id (one OrderConfirmed per order) and
made together with its "done" marker in one atomic step, which also stores the outcome: a
redelivered or retried order gets the first outcome back instead of a second change, so stock is
never decremented twice and points never credited twice, and the handler re-emits the same
events (with the same derived ids). Stock is reserved all-or-nothing per order and never goes
below zero.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.redis_clients import pooled_client
from tidal import InvalidEventError, RetryableError

# KEYS: marker, stock keys...  ARGV: marker ttl (ms), quantities...
RESERVE: Final = """
local done = redis.call('GET', KEYS[1])
if done then return done end
local unknown, short = {}, {}
for i = 2, #KEYS do
  local have = redis.call('GET', KEYS[i])
  if not have then
    table.insert(unknown, i - 1)
  elseif tonumber(have) < tonumber(ARGV[i]) then
    table.insert(short, {i - 1, tonumber(have)})
  end
end
if #unknown > 0 then return cjson.encode({status = 'unknown', unknown = unknown}) end
local result
if #short > 0 then
  result = cjson.encode({status = 'out_of_stock', short = short})
else
  for i = 2, #KEYS do redis.call('DECRBY', KEYS[i], ARGV[i]) end
  result = cjson.encode({status = 'reserved'})
end
redis.call('SET', KEYS[1], result, 'PX', ARGV[1])
return result
"""
# KEYS: marker, the customer's points.  ARGV: points, marker ttl (ms).  -> "before after"
CREDIT: Final = """
local done = redis.call('GET', KEYS[1])
if done then return done end
local after = redis.call('INCRBY', KEYS[2], ARGV[1])
local result = tostring(after - tonumber(ARGV[1])) .. ' ' .. tostring(after)
redis.call('SET', KEYS[1], result, 'PX', ARGV[2])
return result
"""


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class Reservation:
    """The outcome of taking an order from stock (the first one, on a redelivery)."""

    status: Literal["reserved", "out_of_stock"]
    shortages: tuple[Shortage, ...] = ()


@dataclass(frozen=True)
class Credit:
    """Points before and after an order's credit."""

    before: int
    after: int


class OrdersStore(Protocol):
    async def reserve(self, order_id: str, quantities: Mapping[str, int]) -> Reservation:
        """Take every quantity from stock, or none if any is short; once per order."""
        ...

    async def credit(self, order_id: str, customer_id: str, points: int) -> Credit:
        """Add points to a customer's running total; once per order."""
        ...

    async def record_payment(self, order_id: str, payment: Mapping[str, Any]) -> bool:
        """Keep the first payment recorded for an order; True when recorded now."""
        ...

    async def seed_stock(self, stock: Mapping[str, int], *, overwrite: bool = False) -> None:
        """Set stock levels (only where none is set, unless ``overwrite``)."""
        ...

    async def stock(self, sku: str) -> int | None: ...

    async def points(self, customer_id: str) -> int: ...

    async def payment(self, order_id: str) -> dict[str, Any] | None: ...


@dataclass
class MemoryOrdersStore:
    """`OrdersStore` in process memory (atomic: nothing awaits between check and change)."""

    levels: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    credits: dict[str, Credit] = field(default_factory=dict)

    async def reserve(self, order_id: str, quantities: Mapping[str, int]) -> Reservation:
        if order_id in self.reservations:
            return self.reservations[order_id]
        _check_known([sku for sku in quantities if sku not in self.levels])
        short = tuple(
            Shortage(sku, qty, self.levels[sku])
            for sku, qty in quantities.items()
            if self.levels[sku] < qty
        )
        if not short:
            for sku, qty in quantities.items():
                self.levels[sku] -= qty
        outcome = Reservation("out_of_stock", short) if short else Reservation("reserved")
        self.reservations[order_id] = outcome
        return outcome

    async def credit(self, order_id: str, customer_id: str, points: int) -> Credit:
        key = f"{customer_id}\x00{order_id}"
        if key not in self.credits:
            before = self.totals.get(customer_id, 0)
            self.totals[customer_id] = before + points
            self.credits[key] = Credit(before, before + points)
        return self.credits[key]

    async def record_payment(self, order_id: str, payment: Mapping[str, Any]) -> bool:
        if order_id in self.payments:
            return False
        self.payments[order_id] = dict(payment)
        return True

    async def seed_stock(self, stock: Mapping[str, int], *, overwrite: bool = False) -> None:
        for sku, level in stock.items():
            if overwrite or sku not in self.levels:
                self.levels[sku] = level

    async def stock(self, sku: str) -> int | None:
        return self.levels.get(sku)

    async def points(self, customer_id: str) -> int:
        return self.totals.get(customer_id, 0)

    async def payment(self, order_id: str) -> dict[str, Any] | None:
        return self.payments.get(order_id)


class RedisOrdersStore:
    """`OrdersStore` in Redis. Inventory keys share the ``{inventory}`` hash tag (one cluster
    slot, as the all-or-nothing script needs); a customer's keys share ``{loyalty:<id>}``."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "orders",
        marker_ttl: float = 30 * 86400,
        initial_stock: Mapping[str, int] | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.marker_ttl_ms = int(marker_ttl * 1000)
        self._reserve = client.register_script(RESERVE)
        self._credit = client.register_script(CREDIT)
        self._initial_stock = dict(initial_stock) if initial_stock else None
        self._seeding = asyncio.Lock()  # the starting stock is set (where missing) before use

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 128, **options: Any) -> RedisOrdersStore:
        """A store over `pooled_client` (waits for a free connection; calls time out)."""
        return cls(pooled_client(url, max_connections=max_connections), **options)

    def _stock_key(self, sku: str) -> str:
        return f"{self.prefix}:{{inventory}}:stock:{sku}"

    def _loyalty_key(self, customer_id: str, suffix: str) -> str:
        return f"{self.prefix}:{{loyalty:{customer_id}}}:{suffix}"

    async def reserve(self, order_id: str, quantities: Mapping[str, int]) -> Reservation:
        if self._initial_stock is not None:
            await self._seed_once()
        skus = list(quantities)
        keys = [f"{self.prefix}:{{inventory}}:done:{order_id}", *map(self._stock_key, skus)]
        args = [self.marker_ttl_ms, *(quantities[s] for s in skus)]
        raw = json.loads(cast(bytes, await self._run(self._reserve, keys, args)))
        if raw["status"] == "unknown":
            _check_known([skus[i - 1] for i in raw["unknown"]])
        if raw["status"] == "reserved":
            return Reservation("reserved")
        short = tuple(Shortage(skus[i - 1], quantities[skus[i - 1]], n) for i, n in raw["short"])
        return Reservation("out_of_stock", short)

    async def credit(self, order_id: str, customer_id: str, points: int) -> Credit:
        keys = [
            self._loyalty_key(customer_id, f"done:{order_id}"),
            self._loyalty_key(customer_id, "points"),
        ]
        raw = await self._run(self._credit, keys, [points, self.marker_ttl_ms])
        before, after = cast(bytes, raw).split()
        return Credit(int(before), int(after))

    async def record_payment(self, order_id: str, payment: Mapping[str, Any]) -> bool:
        document = json.dumps(payment, sort_keys=True)
        try:
            return bool(await self.client.hsetnx(f"{self.prefix}:payments", order_id, document))
        except RedisError as exc:
            raise RetryableError(f"orders store unavailable: {exc}") from exc

    async def seed_stock(self, stock: Mapping[str, int], *, overwrite: bool = False) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for sku, level in stock.items():
                    pipe.set(self._stock_key(sku), level, nx=not overwrite)
                await pipe.execute()
        except RedisError as exc:
            raise RetryableError(f"orders store unavailable: {exc}") from exc

    async def _seed_once(self) -> None:
        async with self._seeding:
            if self._initial_stock is not None:
                await self.seed_stock(self._initial_stock)
                self._initial_stock = None

    async def stock(self, sku: str) -> int | None:
        raw = await self.client.get(self._stock_key(sku))
        return None if raw is None else int(raw)

    async def points(self, customer_id: str) -> int:
        raw = await self.client.get(self._loyalty_key(customer_id, "points"))
        return 0 if raw is None else int(raw)

    async def payment(self, order_id: str) -> dict[str, Any] | None:
        raw = await self.client.hget(f"{self.prefix}:payments", order_id)
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    async def close(self) -> None:
        await self.client.aclose()

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise RetryableError(f"orders store unavailable: {exc}") from exc


def _check_known(unknown: list[str]) -> None:
    if unknown:
        raise InvalidEventError(f"data.items: unknown sku {', '.join(map(repr, unknown))}")
