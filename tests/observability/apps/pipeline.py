"""Services under load for the Prometheus tests: `orders` (ok, flaky, slow, poison and stuck
subscriptions, and S3 notifications; dead letters go to ``OBS_DEAD_LETTERS``) and `sink`
(takes anything)."""

from __future__ import annotations

import asyncio
import os
import threading

from tidal import App, DeliveryPolicy, Event, InvalidEventError, RetryableError, prefix

orders = App("obs-orders", policy=DeliveryPolicy.of(max_attempts=3))


@orders.on(type="order.v1")
async def accept(event: Event) -> None:
    return None


@orders.on(type="flaky.v1")
async def flaky(event: Event) -> None:
    if int(event.id.rsplit("-", 1)[-1]) % 2:
        raise RetryableError("downstream busy")


@orders.on(type="report.v1")
async def slow(event: Event) -> None:
    await asyncio.sleep(0.6)


@orders.on(
    type="poison.v1",
    policy=DeliveryPolicy.of(max_attempts=1, dead_letter=os.environ.get("OBS_DEAD_LETTERS")),
)
async def poison(event: Event) -> None:
    raise InvalidEventError("no orderId")


@orders.on(type="stuck.v1", policy=DeliveryPolicy.of(max_attempts=1, timeout=0.3))
def stuck(event: Event) -> None:
    """A sync handler that never returns: its attempt times out and its thread hangs until the
    process ends (``tidal_sync_threads_hung``, the hung-thread alert)."""
    threading.Event().wait()


@orders.on(prefix(type="com.amazonaws.s3."), name="uploads")
async def uploads(event: Event) -> None:
    """What `tidal source` publishes (the dashboards' Object storage row)."""


sink = App("obs-sink")


@sink.on()
async def keep(event: Event) -> None:
    return None
