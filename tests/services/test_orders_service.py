"""The orders service on the memory transport: stock and points in a real redis-server,
receipts in S3 (moto in server mode) or a directory."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from services.orders.app import (
    CHECKOUT_COMPLETED,
    HIGH_VALUE,
    OUT_OF_STOCK,
    RECEIPT_ISSUED,
    TIER_UPDATED,
    create_app,
)
from services.orders.loyalty import points_for, tier_for
from services.orders.parsing import ORDER_CONFIRMED
from services.orders.receipts import DirectoryReceiptStore, ReceiptStore, S3ReceiptStore
from services.orders.stores import MemoryOrdersStore, OrdersStore, RedisOrdersStore
from tests.services.conftest import sample

from tidal import Event, RetryableError
from tidal.testing import ManualClock, MemoryBroker, make_event

STOCK = {"COFFEE-1KG": 10, "MUG-BLUE": 5, "LTD-VINYL": 1}


def order_event(**changes: Any) -> Event:
    data = {**sample("order"), **changes}
    return make_event(
        ORDER_CONFIRMED, source="com.acme.pos.transaction", id=data["orderId"], data=data
    )


def line_order(order_id: str, lines: list[tuple[str, int, float]], **changes: Any) -> Event:
    items = [{"sku": s, "qty": q, "unitPrice": p} for s, q, p in lines]
    total = float(sum(Decimal(str(p)) * q for _, q, p in lines))
    return order_event(orderId=order_id, items=items, total=total, **changes)


@pytest.fixture
async def store(orders_store: RedisOrdersStore) -> OrdersStore:
    await orders_store.seed_stock(STOCK)
    return orders_store


@pytest.fixture
def receipts(tmp_path: Path) -> ReceiptStore:
    return DirectoryReceiptStore(tmp_path / "receipts")


def broker_for(store: OrdersStore, receipts: ReceiptStore, clock: ManualClock) -> MemoryBroker:
    # no idempotency records: the stores alone must hold under redelivery
    return MemoryBroker(create_app(store, receipts), clock=clock, idempotency=False)


def of_type(broker: MemoryBroker, event_type: str) -> list[Event]:
    return [e for e in broker.published if e.type == event_type]


async def test_an_order_fans_out_to_inventory_loyalty_receipts(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    await broker.publish(order_event())
    await broker.drain()
    for sub in ("inventory", "loyalty", "receipts"):
        assert broker.stats.get(sub, "handled") == 1
    assert broker.stats.get("high-value", "received") == 0  # 46.99 is not over 100
    assert await store.stock("COFFEE-1KG") == 8
    assert await store.stock("MUG-BLUE") == 4
    assert await store.points("cust-0007") == 469
    [issued] = of_type(broker, RECEIPT_ISSUED)
    assert issued.data["location"].endswith("/receipts/2026/11/02/ord-sample-0001.json")


async def test_stock_is_reserved_all_or_nothing_and_never_goes_negative(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    await broker.publish(line_order("o-1", [("LTD-VINYL", 1, 34.99)]))
    await broker.publish(line_order("o-2", [("COFFEE-1KG", 1, 18.5), ("LTD-VINYL", 1, 34.99)]))
    await broker.drain()
    assert await store.stock("LTD-VINYL") == 0
    assert await store.stock("COFFEE-1KG") == 10  # o-2 took nothing
    [out] = of_type(broker, OUT_OF_STOCK)
    assert out.data == {
        "orderId": "o-2",
        "shortages": [{"sku": "LTD-VINYL", "requested": 1, "available": 0}],
    }


async def test_concurrent_orders_for_the_last_items_never_oversell(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    for n in range(20):
        await broker.publish(line_order(f"o-{n}", [("MUG-BLUE", 1, 9.99)]))
    await broker.drain()
    assert await store.stock("MUG-BLUE") == 0
    assert len(of_type(broker, OUT_OF_STOCK)) == 15


class LostReply:
    """Applies each change, then reports a failure the first time, as a lost reply would."""

    def __init__(self, inner: OrdersStore) -> None:
        self.inner = inner
        self.failed: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _once(self, what: str, result: Any) -> Any:
        if what not in self.failed:
            self.failed.add(what)
            raise RetryableError(f"{what}: connection reset after the write")
        return result

    async def reserve(self, order_id: str, quantities: Any) -> Any:
        return await self._once("reserve", await self.inner.reserve(order_id, quantities))

    async def credit(self, order_id: str, customer_id: str, points: int) -> Any:
        return await self._once("credit", await self.inner.credit(order_id, customer_id, points))


async def test_retries_and_redelivery_never_decrement_or_credit_twice(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(LostReply(store), receipts, clock)  # type: ignore[arg-type]
    event = line_order("o-9", [("COFFEE-1KG", 3, 18.5)])
    await broker.publish(event)
    await broker.drain()
    await broker.publish(event)  # redelivered: no idempotency record to stop it here
    await broker.drain()
    assert broker.stats.get("inventory", "retried") == 1
    assert broker.stats.get("loyalty", "retried") == 1
    assert await store.stock("COFFEE-1KG") == 7
    assert await store.points("cust-0007") == 555
    issued = of_type(broker, RECEIPT_ISSUED)
    assert len(issued) == 2
    assert issued[0].id == issued[1].id


async def test_the_same_order_delivered_concurrently_is_applied_once(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    app = create_app(store, receipts)
    inventory = app.subscription("inventory")
    event = line_order("o-c", [("COFFEE-1KG", 2, 18.5)])
    from tidal.testing import MemoryBroker as Broker

    dispatcher = Broker(app, clock=clock).dispatchers[0]
    await asyncio.gather(*(dispatcher.deliver(inventory, event) for _ in range(10)))
    assert await store.stock("COFFEE-1KG") == 8


@pytest.mark.parametrize(
    ("total", "points"),
    [("19.99", 199), ("0.29", 2), ("0.09", 0), ("100.00", 1000), ("4.35", 43), ("1234.56", 12345)],
)
def test_points_are_ten_per_unit_rounded_down_in_exact_decimals(total: str, points: int) -> None:
    assert points_for(Decimal(total)) == points


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (0, "bronze"),
        (999, "bronze"),
        (1000, "silver"),
        (4999, "silver"),
        (5000, "gold"),
        (20000, "platinum"),
    ],
)
def test_tiers_start_at_their_documented_totals(points: int, tier: str) -> None:
    assert tier_for(points) == tier


async def test_crossing_a_tier_emits_tier_updated_once(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    await broker.publish(line_order("o-a", [("COFFEE-1KG", 5, 18.5)]))  # 925 points
    await broker.drain()
    assert of_type(broker, TIER_UPDATED) == []
    second = line_order("o-b", [("COFFEE-1KG", 1, 18.5)])  # 185 more: 1,110
    await broker.publish(second)
    await broker.publish(second)
    await broker.drain()
    updates = of_type(broker, TIER_UPDATED)
    assert {e.id for e in updates} == {updates[0].id}
    assert updates[0].data == {
        "customerId": "cust-0007",
        "orderId": "o-b",
        "previousTier": "bronze",
        "tier": "silver",
        "points": 1110,
    }


async def test_receipts_are_written_to_s3_once_and_never_overwritten(
    store: OrdersStore, s3_bucket: tuple[Any, str], clock: ManualClock
) -> None:
    client, bucket = s3_bucket
    broker = broker_for(store, S3ReceiptStore(client, bucket), clock)
    event = order_event()
    await broker.publish(event)
    await broker.drain()
    key = "receipts/2026/11/02/ord-sample-0001.json"
    first = client.get_object(Bucket=bucket, Key=key)
    assert first["ServerSideEncryption"] == "AES256"
    document = json.loads(first["Body"].read())
    assert document["total"] == "46.99"
    assert document["lines"][0] == {
        "sku": "COFFEE-1KG",
        "qty": 2,
        "unitPrice": "18.50",
        "amount": "37.00",
    }
    await broker.publish(event)
    await broker.drain()
    versions = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [v["Key"] for v in versions] == [key]
    assert client.get_object(Bucket=bucket, Key=key)["ETag"] == first["ETag"]
    assert of_type(broker, RECEIPT_ISSUED)[0].data["location"] == f"s3://{bucket}/{key}"


async def test_a_directory_receipt_is_created_only_if_absent(tmp_path: Path) -> None:
    receipts = DirectoryReceiptStore(tmp_path)
    assert await receipts.put_once("receipts/a.json", b"first")
    assert not await receipts.put_once("receipts/a.json", b"second")
    assert (tmp_path / "receipts" / "a.json").read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "receipts").iterdir()] == ["a.json"]


@pytest.mark.parametrize(
    ("changes", "matched"),
    [
        ({}, True),
        ({"channel": "test"}, False),  # anything-but
        ({"storeId": "web-shop"}, False),  # prefix
        ({"payment": {"method": "card", "status": "PENDING"}}, False),
    ],
)
async def test_only_paid_store_orders_over_100_reach_high_value(
    clock: ManualClock, receipts: ReceiptStore, changes: dict[str, Any], matched: bool
) -> None:
    store = MemoryOrdersStore(levels={"ESPRESSO-M": 5})
    broker = broker_for(store, receipts, clock)
    await broker.publish(line_order("o-hv", [("ESPRESSO-M", 1, 449.0)], **changes))
    await broker.drain()
    assert len(of_type(broker, HIGH_VALUE)) == (1 if matched else 0)


async def test_an_order_whose_lines_do_not_add_up_is_dead_lettered_by_every_subscriber(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    await broker.publish(order_event(total=146.99))
    await broker.drain()
    letters = broker.all_dead_letters()
    assert sorted(letter.get_extension("tidalsubscriber") for letter in letters) == [
        "orders/high-value",
        "orders/inventory",
        "orders/loyalty",
        "orders/receipts",
    ]
    for letter in letters:
        assert "data.total: 146.99 does not equal the sum of the items, 46.99" in (
            letter.get_extension("tidalerrormessage")
        )
    assert await store.stock("COFFEE-1KG") == 10


async def test_an_unknown_sku_is_dead_lettered_by_inventory_only(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    await broker.publish(line_order("o-u", [("NOPE-1", 1, 1.0), ("MUG-BLUE", 1, 9.99)]))
    await broker.drain()
    [letter] = broker.all_dead_letters()
    assert letter.get_extension("tidalsubscriber") == "orders/inventory"
    assert "unknown sku 'NOPE-1'" in letter.get_extension("tidalerrormessage")
    assert await store.stock("MUG-BLUE") == 5


async def test_a_payment_is_recorded_once_per_order(
    store: OrdersStore, receipts: ReceiptStore, clock: ManualClock
) -> None:
    broker = broker_for(store, receipts, clock)
    data = {
        "sessionId": "cs_1",
        "orderId": "ord-sample-0001",
        "amountTotal": 4699,
        "currency": "EUR",
        "paymentStatus": "paid",
        "created": "2026-11-02T10:15:02Z",
    }
    for event_id in ("evt_1", "evt_1", "evt_2"):
        await broker.publish(make_event(CHECKOUT_COMPLETED, id=event_id, data=data))
    await broker.drain()
    payment = await store.payment("ord-sample-0001")
    assert payment is not None
    assert payment["eventId"] == "evt_1"
