"""`tidal dev` demo traffic for the saga: orders placed, and a PingSource tick now and then.

`tidal dev` (tidal.cli._discovering) publishes `events(rng)` straight onto the broker, memory or
``--kafka``. One order in ten has a declined card (``tok_chargeDeclined``: refunded nothing,
stock released, cancelled), one in eight asks for the 40-unit vinyl (out of stock once it runs
out), one in forty lacks its card token (dead-lettered). Every tenth event is a tick, so the
``deadlines`` sweep runs; the demo sends no ``tok_timeout`` card, whose payment attempts would
hang for the handler's timeout on every retry (the end-to-end test covers that path).
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from typing import Any, Final

from services.saga.app import ORDER_PLACED, PING
from tidal import Event

SKUS: Final = ("COFFEE-1KG", "MUG-BLUE", "TEA-GREEN", "FILTER-100", "SCALE-D")
PRICES: Final = {
    "COFFEE-1KG": 18.5,
    "MUG-BLUE": 9.99,
    "TEA-GREEN": 7.95,
    "FILTER-100": 3.2,
    "SCALE-D": 34.75,
    "LTD-VINYL": 34.99,
}


def events(rng: random.Random) -> Iterator[Event]:
    """Endless orders with ids stable per run seed, a tick every tenth event."""
    for n in itertools.count(1):
        if n % 10 == 0:
            yield Event.create(type=PING, source="/apis/v1/namespaces/dev/pingsources/saga")
            continue
        yield _order(rng)


def _order(rng: random.Random) -> Event:
    order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    sku = "LTD-VINYL" if rng.random() < 0.125 else rng.choice(SKUS)
    quantity = rng.randint(1, 3)
    data: dict[str, Any] = {
        "orderId": order_id,
        "customerId": f"c-{rng.randrange(100)}",
        "items": [{"sku": sku, "quantity": quantity}],
        "total": round(PRICES[sku] * quantity, 2),
        "currency": "EUR",
        "paymentToken": "tok_chargeDeclined" if rng.random() < 0.1 else "tok_visa",
    }
    if rng.random() < 0.025:
        del data["paymentToken"]
    return Event.create(
        type=ORDER_PLACED, source="/shop/checkout", id=order_id, data=data, partitionkey=order_id
    )
