"""The order saga on the memory transport: each path to a terminal state (completed, out of
stock, payment refused, payment timed out with its charge refunded, shipping timed out), the
timeline, a malformed order dead-lettered, and every event delivered twice with tidal's
idempotency off (the saga's own per-step state keeps each effect single)."""

from __future__ import annotations

from typing import Any

import pytest
from services.saga import states
from services.saga.__main__ import show
from services.saga.app import (
    ORDER_CANCELLED,
    ORDER_COMPLETED,
    ORDER_PLACED,
    PAYMENT_ACCEPTED,
    PING,
    STEP_TIMED_OUT,
    create_app,
)
from services.saga.payments import MemoryLedger, SimulatedProvider
from services.saga.settings import SagaSettings
from services.saga.stores import MemorySagaStore

from tidal import DeliveryPolicy, Event
from tidal.testing import ManualClock, MemoryBroker, make_event

SETTINGS = SagaSettings(payment_timeout=30, shipping_timeout=300)


class Now:
    """The saga's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.at = 1_800_000_000.0

    def __call__(self) -> float:
        return self.at


class Saga:
    def __init__(self, clock: ManualClock, *, idempotency: bool = True, **stock: int) -> None:
        self.now = Now()
        self.store = MemorySagaStore(levels={"MUG": 10, "VINYL": 1, **stock}, clock=self.now)
        self.ledger = MemoryLedger()
        provider = SimulatedProvider(self.ledger, hang=3600)
        policy = DeliveryPolicy.of(max_attempts=2, delay="PT1S", timeout="PT1S")
        app = create_app(self.store, provider, settings=SETTINGS, policy=policy, clock=self.now)
        self.broker = MemoryBroker(app, clock=clock, idempotency=idempotency)

    async def place(self, order_id: str, token: str = "tok_visa", **line: Any) -> None:
        await self.broker.send(order(order_id, token, **line))

    async def tick(self, after: float) -> None:
        self.now.at += after
        await self.broker.send(make_event(PING, source="/apis/v1/namespaces/shop/pingsources/p"))

    def ends(self, order_id: str) -> list[Event]:
        return [
            e
            for e in self.broker.published
            if e.type in (ORDER_COMPLETED, ORDER_CANCELLED) and e.data["orderId"] == order_id
        ]


def order(order_id: str, token: str, *, sku: str = "MUG", quantity: int = 2) -> Event:
    data = {
        "orderId": order_id,
        "customerId": "c-1",
        "items": [{"sku": sku, "quantity": quantity}],
        "total": 19.98,
        "currency": "EUR",
        "paymentToken": token,
    }
    return make_event(ORDER_PLACED, source="/shop/checkout", id=f"placed-{order_id}", data=data)


async def test_an_order_is_reserved_charged_shipped_and_completed_once(
    clock: ManualClock,
) -> None:
    saga = Saga(clock)
    await saga.place("o-1")
    [end] = saga.ends("o-1")
    assert end.type == ORDER_COMPLETED
    assert end.partitionkey == "o-1"
    assert await saga.store.stock("MUG") == 8
    ledger = await saga.ledger.ledger("o-1")
    assert (ledger.charges, ledger.refunds, ledger.amount) == (1, 0, "19.98")
    steps = [(e["step"], e["status"]) for e in await saga.store.timeline("o-1")]
    assert steps == [
        ("order", "placed"),
        ("inventory", "reserved"),
        ("payment", "pending"),
        ("payment", "accepted"),
        ("shipping", "pending"),
        ("shipping", "scheduled"),
        ("order", "completed"),
    ]
    assert await saga.store.due(saga.now.at + 10_000, limit=10) == []  # no deadline left


async def test_a_short_line_cancels_the_order_without_touching_stock_or_card(
    clock: ManualClock,
) -> None:
    saga = Saga(clock)
    await saga.place("o-2", sku="VINYL", quantity=3)
    [end] = saga.ends("o-2")
    assert (end.type, end.data["reason"], end.data["undone"]) == (
        ORDER_CANCELLED,
        "out_of_stock",
        [],
    )
    assert await saga.store.stock("VINYL") == 1
    assert (await saga.ledger.ledger("o-2")).charges == 0


async def test_a_refused_payment_releases_the_reservation_and_cancels(clock: ManualClock) -> None:
    saga = Saga(clock)
    await saga.place("o-3", token="tok_chargeDeclined")
    [end] = saga.ends("o-3")
    assert (end.data["reason"], end.data["undone"]) == ("payment_refused", ["inventory.released"])
    assert await saga.store.stock("MUG") == 10
    assert (await saga.ledger.ledger("o-3")).charges == 0


async def test_a_payment_past_its_deadline_is_refunded_released_and_cancelled_once(
    clock: ManualClock,
) -> None:
    saga = Saga(clock)
    await saga.place("o-4", token="tok_timeout")  # charged, never answers: retried, then dead
    assert saga.ends("o-4") == []
    await saga.tick(after=29)  # before the deadline: nothing
    assert saga.ends("o-4") == []
    await saga.tick(after=2)
    await saga.tick(after=5)  # a later tick sends no second timeout
    [end] = saga.ends("o-4")
    assert (end.data["reason"], end.data["undone"]) == (
        "payment_timed_out",
        ["inventory.released", "payment.refunded"],
    )
    assert await saga.store.stock("MUG") == 10
    ledger = await saga.ledger.ledger("o-4")
    assert (ledger.charges, ledger.refunds) == (1, 1)
    assert len([e for e in saga.broker.published if e.type == STEP_TIMED_OUT]) == 1
    state = await saga.store.state("o-4")
    assert (state["payment"], state["refund"]) == ("timed_out", "done")


async def test_a_shipment_past_its_deadline_refunds_the_charge(clock: ManualClock) -> None:
    """Steps 1-2 by hand, so no PaymentAccepted reaches the shipping step in time."""
    saga = Saga(clock)
    now = saga.now.at
    place = states.place({"MUG": 1}, total="9.99", now=now, payment_timeout=30)
    await saga.store.change("o-5", place, skus=["MUG"])
    await saga.ledger.charge("o-5", "accepted", "9.99")
    settle = states.settle_payment("accepted", now=now, shipping_timeout=300)
    await saga.store.change("o-5", settle)
    await saga.tick(after=301)  # the carrier never booked it
    [end] = saga.ends("o-5")
    assert (end.data["reason"], end.data["undone"]) == (
        "shipping_timed_out",
        ["inventory.released", "payment.refunded"],
    )
    data = {"orderId": "o-5", "total": 9.99, "currency": "EUR"}
    late = make_event(PAYMENT_ACCEPTED, source="saga", data=data)
    await saga.broker.send(late)  # a late PaymentAccepted books nothing and ends nothing
    assert saga.ends("o-5") == [end]
    assert (await saga.store.state("o-5"))["shipping"] == "timed_out"


async def test_every_event_delivered_twice_changes_nothing_twice(clock: ManualClock) -> None:
    saga = Saga(clock, idempotency=False)
    saga.broker.publish = _twice(saga.broker.publish)  # type: ignore[method-assign]
    for n, token in enumerate(("tok_visa", "tok_chargeDeclined", "tok_visa")):
        await saga.place(f"o-{n}", token=token)
    assert [e.type for n in range(3) for e in {x.id: x for x in saga.ends(f"o-{n}")}.values()] == [
        ORDER_COMPLETED,
        ORDER_CANCELLED,
        ORDER_COMPLETED,
    ]
    assert await saga.store.stock("MUG") == 6  # two orders of two, the refused one released
    for n in (0, 2):
        assert (await saga.ledger.ledger(f"o-{n}")).charges == 1
    assert len(await saga.store.timeline("o-1")) == 6  # placed..released, cancelled: once each


def _twice(publish: Any) -> Any:
    async def both(event: Event) -> int:
        await publish(event)
        return int(await publish(event))

    return both


@pytest.mark.parametrize("change", [lambda d: d.pop("paymentToken"), lambda d: d.update(items=[])])
async def test_a_malformed_order_is_dead_lettered_and_starts_no_saga(
    clock: ManualClock, change: Any
) -> None:
    saga = Saga(clock)
    bad = order("o-9", "tok_visa")
    change(bad.data)
    await saga.broker.send(bad)
    saga.broker.assert_dead_lettered(ORDER_PLACED)
    assert await saga.store.state("o-9") == {}


def test_a_timed_out_step_refunded_before_its_compensation_still_times_out() -> None:
    """Found end to end: the payment step's retry refunded first; the sweep must keep sending
    the timeout (not drop the deadline as stale) or the order never ends."""
    fields = {"order": "placed", "inventory": "reserved", "payment": "timed_out", "refund": "done"}
    result, writes = states.time_out("payment")(states.Snapshot(fields, {}))
    assert (result, writes.cleared) == ("timed_out", [])
    ended = {**fields, "order": "cancelled"}
    assert states.time_out("payment")(states.Snapshot(ended, {}))[1].cleared == ["payment"]


async def test_the_timeline_command_prints_each_step_and_the_end(clock: ManualClock) -> None:
    saga = Saga(clock)
    await saga.place("o-7", token="tok_chargeDeclined")
    lines = await show(saga.store, "o-7")
    assert [line.split()[1:] for line in lines[:-1]] == [
        ["order", "placed"],
        ["inventory", "reserved"],
        ["payment", "pending"],
        ["payment", "refused"],
        ["inventory", "released"],
        ["order", "cancelled"],
    ]
    assert lines[-1] == "order o-7: cancelled (payment_refused; undone: inventory.released)"
    assert await show(saga.store, "nope") == []
