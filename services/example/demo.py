"""Demo traffic for the example service: orders, a few duplicates and a few invalid ones.

`tidal dev` draws events from `events` until it is stopped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from services.example.app import PLACED
from tidal import Event

CUSTOMERS = [f"customer-{n}" for n in range(1, 21)]


def events(rng: random.Random) -> Iterator[Event]:
    """An endless stream of order events: ~5 % re-sent duplicates, ~3 % without a total."""
    sent: list[Event] = []
    for number in range(1, 10**12):
        if sent and rng.random() < 0.05:
            yield rng.choice(sent[-50:])
            continue
        order = {"orderId": f"ord-{number:06d}", "customer": rng.choice(CUSTOMERS)}
        if rng.random() >= 0.03:
            order["total"] = round(rng.uniform(5, 250), 2)
        event = Event.create(type=PLACED, source="/pos/demo", data=order, id=order["orderId"])
        sent.append(event)
        yield event
