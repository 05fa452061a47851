"""A Kafka app for `test_kafka_worker_scrape`: ``entry.v1`` events are handled at once, a
``hold.v1`` event never finishes (until the worker stops), so its partition's committed offset
stays behind it and the worker reports a real consumer lag.

Run: ``tidal run --transport kafka tests.observability.apps.ledger:app``.
"""

from __future__ import annotations

import asyncio

from tidal import App, DeliveryPolicy, Event

app = App("obs-ledger-kafka")


@app.on(type="entry.v1")
async def entry(event: Event) -> None:
    return None


@app.on(type="hold.v1", policy=DeliveryPolicy(timeout=None))
async def hold(event: Event) -> None:
    await asyncio.Event().wait()  # released only by the worker's shutdown
