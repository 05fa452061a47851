"""The example App that `tidal dev` runs until the reference services exist.

Orders are placed, confirmed (one derived event per order, stable across retries), noticed when
high-value (a content filter on ``data``), and notified by a deliberately flaky subscriber whose
transient failures are retried with backoff. Orders without a positive total are invalid events
and end in the dead-letter sink.
"""

from __future__ import annotations

import hashlib

from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError, RetryableError

PLACED = "com.example.order.placed.v1"
CONFIRMED = "com.example.order.confirmed.v1"
HIGH_VALUE = 100

app = App("example", policy=DeliveryPolicy.of(max_attempts=4, delay="PT0.01S", max_delay="PT0.1S"))


@app.on(type=PLACED)
def confirm(event: Event, ctx: Context) -> Event:
    """Check an order and confirm it; an order without a positive total is invalid."""
    order = event.data if isinstance(event.data, dict) else {}
    total = order.get("total")
    if not isinstance(total, int | float) or isinstance(total, bool) or total <= 0:
        raise InvalidEventError(f"order {order.get('orderId')!r} has no positive 'total'")
    return ctx.derive(
        type=CONFIRMED, data={**order, "status": "CONFIRMED"}, partitionkey=order.get("customer")
    )


@app.on(type=CONFIRMED, data={"total": [{"numeric": [">", HIGH_VALUE]}]}, name="high-value")
async def high_value(event: Event, ctx: Context) -> None:
    """Only confirmed orders over 100 reach this subscription."""
    ctx.logger.info("high-value order %s: %s", event.data["orderId"], event.data["total"])


@app.on(type=CONFIRMED, name="notify")
async def notify(event: Event, ctx: Context) -> None:
    """A notifier whose downstream fails transiently for about a third of the attempts."""
    roll = hashlib.sha256(f"{event.id}:{ctx.attempt}".encode()).digest()[0]
    if roll < 85:
        raise RetryableError("notification gateway busy")
