"""The payment provider the saga charges, and the simulated one `tidal dev` and tests use.

`PaymentProvider` is the port: ``charge`` with the order id as idempotency key (as Stripe's
``Idempotency-Key`` header works: a repeated request gets the first outcome back and charges
nothing more) and ``refund`` of that charge, idempotent too. `SimulatedProvider` keeps its
ledger in Redis or in memory (`ProviderLedger`) and answers by card token: Stripe's test token
``tok_chargeDeclined`` is refused, ``tok_timeout`` is charged and then never answers (a payment
service that times out after taking the money, the case the saga's deadline and refund are
for), any other token is accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tidal import RetryableError

Outcome = Literal["accepted", "refused"]
DECLINED: Final = "tok_chargeDeclined"
TIMES_OUT: Final = "tok_timeout"
# KEYS: the order's payment.  ARGV: outcome, amount.  -> the first outcome
CHARGE: Final = """
local first = redis.call('HGET', KEYS[1], 'outcome')
if first then return first end
redis.call('HSET', KEYS[1], 'outcome', ARGV[1], 'amount', ARGV[2])
if ARGV[1] == 'accepted' then redis.call('HINCRBY', KEYS[1], 'charges', 1) end
return ARGV[1]
"""
# KEYS: the order's payment.  -> 1 when a charge stands refunded (now or before), else 0
REFUND: Final = """
if redis.call('HGET', KEYS[1], 'outcome') ~= 'accepted' then return 0 end
if redis.call('HGET', KEYS[1], 'refunds') then return 1 end
redis.call('HSET', KEYS[1], 'refunds', 1)
return 1
"""


class PaymentProvider(Protocol):
    async def charge(self, order_id: str, amount: str, card: str) -> Outcome:
        """Charge once per order id; a repeat returns the first outcome."""
        ...

    async def refund(self, order_id: str) -> bool:
        """Refund the order's charge once; True when a charge stands refunded."""
        ...


@dataclass(frozen=True)
class Ledger:
    """What the provider did for one order: charges and refunds applied (each 0 or 1)."""

    outcome: str | None
    amount: str | None
    charges: int
    refunds: int


class ProviderLedger(Protocol):
    async def charge(self, order_id: str, outcome: Outcome, amount: str) -> Outcome: ...

    async def refund(self, order_id: str) -> bool: ...

    async def ledger(self, order_id: str) -> Ledger: ...


@dataclass
class MemoryLedger:
    entries: dict[str, dict[str, str]] = field(default_factory=dict)

    async def charge(self, order_id: str, outcome: Outcome, amount: str) -> Outcome:
        if order_id not in self.entries:
            self.entries[order_id] = {"outcome": outcome, "amount": amount}
            if outcome == "accepted":
                self.entries[order_id]["charges"] = "1"
        return "accepted" if self.entries[order_id]["outcome"] == "accepted" else "refused"

    async def refund(self, order_id: str) -> bool:
        entry = self.entries.get(order_id)
        if entry is None or entry["outcome"] != "accepted":
            return False
        entry["refunds"] = "1"
        return True

    async def ledger(self, order_id: str) -> Ledger:
        return _ledger(self.entries.get(order_id, {}))


class RedisLedger:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "payments") -> None:
        self._redis, self._prefix = redis, prefix
        self._charge = redis.register_script(CHARGE)
        self._refund = redis.register_script(REFUND)

    def _key(self, order_id: str) -> str:
        return f"{self._prefix}:{order_id}"

    async def charge(self, order_id: str, outcome: Outcome, amount: str) -> Outcome:
        first = await self._call(self._charge(keys=[self._key(order_id)], args=[outcome, amount]))
        return "accepted" if first == b"accepted" else "refused"

    async def refund(self, order_id: str) -> bool:
        return bool(await self._call(self._refund(keys=[self._key(order_id)])))

    async def ledger(self, order_id: str) -> Ledger:
        raw = await self._call(self._redis.hgetall(self._key(order_id)))
        return _ledger({k.decode(): v.decode() for k, v in raw.items()})

    async def _call(self, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except RedisError as exc:
            raise RetryableError(f"payment provider unavailable: {exc}") from exc


def _ledger(entry: dict[str, str]) -> Ledger:
    return Ledger(
        entry.get("outcome"),
        entry.get("amount"),
        int(entry.get("charges", 0)),
        int(entry.get("refunds", 0)),
    )


@dataclass
class SimulatedProvider:
    """A `PaymentProvider` answering by card token; ``hang``: how long ``tok_timeout`` stalls."""

    ledger: ProviderLedger
    hang: float = 3600.0

    async def charge(self, order_id: str, amount: str, card: str) -> Outcome:
        outcome: Outcome = "refused" if card == DECLINED else "accepted"
        first = await self.ledger.charge(order_id, outcome, amount)
        if card == TIMES_OUT:
            await asyncio.sleep(self.hang)  # charged, and the answer never comes in time
        return first

    async def refund(self, order_id: str) -> bool:
        return await self.ledger.refund(order_id)
