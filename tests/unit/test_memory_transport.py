"""The memory transport: fan-out, chained emission, retries and dead letters in one process."""

from __future__ import annotations

from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError, RetryableError
from tidal._idempotency import Idempotency, MemoryIdempotencyStore
from tidal.testing import ManualClock, MemoryBroker, make_event


def build_app() -> App:
    app = App("shop", policy=DeliveryPolicy.of(max_attempts=3, delay="PT1S", jitter=False))

    @app.on(type="order.placed")
    def confirm(event: Event, ctx: Context) -> Event:
        if "total" not in event.data:
            raise InvalidEventError("no total")
        return ctx.derive(type="order.confirmed", data=event.data)

    @app.on(type="order.confirmed", name="ledger")
    def ledger(event: Event) -> None:
        return None

    @app.on(type="order.confirmed", name="mailer")
    def mailer(event: Event, ctx: Context) -> None:
        if ctx.attempt < 3:
            raise RetryableError("smtp busy")

    return app


async def test_events_fan_out_chain_and_retry_to_completion(clock: ManualClock) -> None:
    broker = MemoryBroker(build_app(), clock=clock)
    assert await broker.publish(make_event("order.placed", data={"total": 10})) == 1
    await broker.drain()
    assert [e.type for e in broker.published] == ["order.placed", "order.confirmed"]
    assert broker.stats.get("ledger", "handled") == 1
    assert broker.stats.get("mailer", "handled") == 1
    assert broker.stats.get("mailer", "retried") == 2
    assert broker.stats.get("confirm", "filtered") == 1
    assert broker.all_dead_letters() == []


async def test_invalid_event_lands_in_the_dead_letters_with_metadata(clock: ManualClock) -> None:
    broker = MemoryBroker(build_app(), clock=clock)
    await broker.publish(make_event("order.placed", data={}, id="bad-1"))
    await broker.drain()
    [letter] = broker.dead_letters["dead-letters"]
    assert letter.id == "bad-1"
    assert letter.get_extension("tidalerrormessage") == "no total"
    assert broker.stats.get("confirm", "dead_lettered") == 1


async def test_duplicates_are_handled_once_with_idempotency(clock: ManualClock) -> None:
    idempotency = Idempotency(MemoryIdempotencyStore())
    broker = MemoryBroker(build_app(), clock=clock, idempotency=idempotency)
    event = make_event("order.placed", data={"total": 10}, id="o-1")
    for _ in range(5):
        await broker.publish(event)
    await broker.drain()
    assert broker.stats.get("confirm", "handled") == 1
    assert broker.stats.get("confirm", "duplicate") == 4
    assert [e.type for e in broker.published].count("order.confirmed") == 1
