"""The order saga end to end on real parts: 200 orders onto tansu (one in ten sent twice), the
saga App in two `tidal run --transport kafka` worker processes with Redis state and
idempotency, a PingSource-like tick every half second, and one worker SIGKILLed part way
through (the other takes its partitions after the session timeout, well within the 30 s
payment deadline: a deadline shorter than a takeover would cancel the orders caught in it).

Injected failures: 20 declined cards, 20 cards whose payment service takes the money and never
answers (past the 30 s payment deadline: refunded), 40 orders for 2 of a 40-unit SKU (20 go out
of stock), 4 malformed orders. Exact results: every valid order ends in exactly one terminal
state with the reason computed from its payload, each compensation ran once, no card was charged
twice, stock adds up, and only the malformed orders are dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from services.saga.app import ORDER_CANCELLED, ORDER_COMPLETED, ORDER_PLACED, PING
from services.saga.payments import RedisLedger
from services.saga.stores import RedisSagaStore
from tests.services.test_end_to_end_kafka import read_all
from tests.support.kafka import (
    WorkerProcess,
    create_topic,
    eventually,
    idempotence_supported,
    unique,
    worker_env,
)

from tidal import Event, Settings, open_publisher
from tidal._settings import KafkaSettings

pytestmark = pytest.mark.integration
ORDERS = 200
VINYL = "LTD-VINYL"  # 40 in stock (services/orders/products.json)
SKUS = ("COFFEE-1KG", "TEA-GREEN", "MUG-BLUE", "MUG-WHITE", "KETTLE-G", "FILTER-100", "SCALE-D")
"""The other orders' SKUs, spread: one SKU's reservations are serialised by Redis WATCH, and
one hot SKU under a burst of 200 orders retries its transactions for seconds."""


def expected(n: int) -> str | None:
    """The terminal state computed from order n's payload alone (None: malformed)."""
    if n % 50 == 7:
        return None
    return {1: "payment_refused", 2: "payment_timed_out"}.get(n % 10, "completed")


def order(run: str, n: int) -> Event:
    token = {1: "tok_chargeDeclined", 2: "tok_timeout"}.get(n % 10, "tok_visa")
    sku, quantity = (VINYL, 2) if n % 10 in (3, 4) else (SKUS[n % len(SKUS)], 1 + n % 3)
    data: dict[str, Any] = {
        "orderId": f"{run}-{n}",
        "customerId": f"c-{n % 17}",
        "items": [{"sku": sku, "quantity": quantity}],
        "total": 10 + n,
        "currency": "EUR",
        "paymentToken": token,
    }
    if expected(n) is None:
        del data["paymentToken"]
    return Event.create(
        type=ORDER_PLACED,
        source="/shop/checkout",
        id=f"placed-{run}-{n}",
        data=data,
        partitionkey=data["orderId"],
    )


async def tick(settings: Settings, stop: asyncio.Event) -> None:
    """What a Knative PingSource sends, every half second."""
    async with open_publisher(settings, transport="kafka") as publisher:
        while not stop.is_set():
            ping = Event.create(type=PING, source="/apis/v1/namespaces/shop/pingsources/saga")
            await publisher.publish_many([ping])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def test_every_order_ends_once_with_each_compensation_once_through_a_worker_kill(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    run, topic, prefix = unique("o"), unique("saga"), unique("saga")
    await create_topic(kafka_bootstrap, topic, partitions=4)
    env = worker_env(kafka_bootstrap, topic=topic, prefix=prefix, redis_url=redis_url)
    env |= {
        "TIDAL_KAFKA__EMIT_TOPIC": topic,
        "SAGA_REDIS_URL": redis_url,
        "SAGA_KEY_PREFIX": prefix,
        "SAGA_SEED_STOCK": "true",
    }
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        emit_topic=topic,
        idempotent_producer=idempotence_supported(kafka_bootstrap),
    )
    settings = Settings(kafka=kafka)
    redis = Redis.from_url(redis_url)
    store = RedisSagaStore(redis, prefix=prefix)
    ledger = RedisLedger(redis, prefix=f"{prefix}:payments")
    valid = [n for n in range(ORDERS) if expected(n) is not None]

    async def ended() -> int:
        states = [await store.state(f"{run}-{n}") for n in valid]
        return sum(s.get("order") in ("completed", "cancelled") for s in states)

    async def stuck() -> str:
        states = {n: await store.state(f"{run}-{n}") for n in valid}
        left = [n for n, s in states.items() if s.get("order") not in ("completed", "cancelled")]
        return "; ".join(f"{n}: {states[n]}" for n in left[:5])

    workers = [
        WorkerProcess("services.saga.app:app", env, tmp_path / f"worker-{n}").start()
        for n in range(2)
    ]
    stop = asyncio.Event()
    ticking = asyncio.create_task(tick(settings, stop))
    try:
        twice = set(random.Random(21).sample(range(ORDERS), ORDERS // 10))
        async with open_publisher(settings, transport="kafka") as publisher:
            for n in range(ORDERS):
                for _ in range(2 if n in twice else 1):
                    await publisher.publish_many([order(run, n)])
        await eventually(lambda: _at_least(ended(), 60), within=120, what="60 orders ending")
        workers[0].kill()  # mid-saga: its uncommitted records are redelivered to the other one
        await eventually(
            lambda: _at_least(ended(), len(valid)),
            within=180,
            what=f"all {len(valid)} valid orders ending",
            explain=stuck,
        )
        await asyncio.sleep(2.0)  # anything late would show in the counts below
    finally:
        stop.set()
        await ticking
        for worker in workers:
            worker.stop()

    states = {n: await store.state(f"{run}-{n}") for n in range(ORDERS)}
    assert all(states[n] == {} for n in range(ORDERS) if expected(n) is None)
    got = {n: states[n].get("reason") or states[n]["order"] for n in valid}
    vinyl = [n for n in valid if n % 10 in (3, 4)]
    assert Counter(got[n] for n in vinyl) == {"completed": 20, "out_of_stock": 20}
    assert {n: got[n] for n in valid if n not in vinyl} == {
        n: expected(n) for n in valid if n not in vinyl
    }
    assert await store.stock(VINYL) == 0
    for sku in SKUS:  # 100,000 each, less what completed orders took; the cancelled put back
        taken = sum(
            line["quantity"]
            for n in valid
            if got[n] == "completed"
            for line in order(run, n).data["items"]
            if line["sku"] == sku
        )
        assert await store.stock(sku) == 100_000 - taken, sku
    await _assert_money_and_compensations(store, ledger, run, got)
    events = await read_all(kafka_bootstrap, topic)
    ends: dict[str, set[tuple[str, str]]] = {}
    for e in events:
        if e.type in (ORDER_COMPLETED, ORDER_CANCELLED):
            ends.setdefault(e.data["orderId"], set()).add((e.id, e.type))
    assert sorted(ends) == sorted(f"{run}-{n}" for n in valid)
    for n in valid:  # one terminal event per order (a redelivery re-sends the same id)
        [(_, kind)] = ends[f"{run}-{n}"]
        assert kind == (ORDER_COMPLETED if got[n] == "completed" else ORDER_CANCELLED)
    letters = await read_all(kafka_bootstrap, f"{topic}.dlq")
    malformed = {f"placed-{run}-{n}" for n in range(ORDERS) if expected(n) is None}
    assert {letter.id for letter in letters} == malformed
    await redis.aclose()


async def _assert_money_and_compensations(
    store: RedisSagaStore, ledger: RedisLedger, run: str, got: dict[int, str]
) -> None:
    """Charged once when completed; a timed-out charge refunded once; each undo once."""
    for n, end in got.items():
        money = await ledger.ledger(f"{run}-{n}")
        charged = {"completed": (1, 0), "payment_timed_out": (1, 1)}.get(end, (0, 0))
        assert (money.charges, money.refunds) == charged, (n, end, money)
        timeline = Counter((e["step"], e["status"]) for e in await store.timeline(f"{run}-{n}"))
        released = 1 if end in ("payment_refused", "payment_timed_out") else 0
        assert timeline[("inventory", "released")] == released, (n, timeline)
        assert timeline[("payment", "refunded")] == charged[1], (n, timeline)
        assert timeline[("order", "completed")] + timeline[("order", "cancelled")] == 1


async def _at_least(value: Any, expected: int) -> bool:
    return int(await value) >= expected
