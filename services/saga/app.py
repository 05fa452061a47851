"""The saga App: an order's steps and compensations, choreographed over events.

Each subscription is one participant reacting to the previous step's event (in production each
could be its own service; they share the order's record in Redis, `services.saga.stores`)::

    OrderPlaced ──reserve──> InventoryReserved ──charge──> PaymentAccepted ──ship──>
        ShipmentScheduled ──complete──> OrderCompleted
    InventoryRejected | PaymentRefused | StepTimedOut ──compensate──> OrderCancelled
    PingSource tick ──deadlines──> StepTimedOut (a step still pending past its deadline)

Stock is reserved before the charge, so a refused or timed-out payment releases it and cancels
the order; a charge the provider made after the deadline is refunded. Every step moves only
from ``pending`` in one atomic change (`services.saga.states`), so a redelivered event re-emits
the first outcome (same derived id) and changes nothing, and an order ends exactly once,
``completed`` or ``cancelled``. Every event is keyed by ``orderId``: one order's events stay in
order on one partition. ``tidal run services.saga.app:app`` serves ``app`` (``SAGA_*``
settings); ``tidal dev --kafka`` runs ``app_for(settings)`` (its state in that run's Redis).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from services.catalog import Catalog, load_catalog
from services.saga import states
from services.saga.payments import MemoryLedger, PaymentProvider, RedisLedger, SimulatedProvider
from services.saga.settings import SagaSettings
from services.saga.stores import MemorySagaStore, RedisSagaStore, SagaStore
from tidal import App, Context, DeliveryPolicy, Event, Settings, any_of, exact

ORDER_PLACED: Final = "com.acme.shop.order.placed.v1"
INVENTORY_RESERVED: Final = "com.acme.shop.inventory.reserved.v1"
INVENTORY_REJECTED: Final = "com.acme.shop.inventory.rejected.v1"
PAYMENT_ACCEPTED: Final = "com.acme.shop.payment.accepted.v1"
PAYMENT_REFUSED: Final = "com.acme.shop.payment.refused.v1"
SHIPMENT_SCHEDULED: Final = "com.acme.shop.shipment.scheduled.v1"
STEP_TIMED_OUT: Final = "com.acme.shop.order.step-timed-out.v1"
ORDER_COMPLETED: Final = "com.acme.shop.order.completed.v1"
ORDER_CANCELLED: Final = "com.acme.shop.order.cancelled.v1"
PING: Final = "dev.knative.sources.ping"
"""The type of a Knative PingSource's events: the clock that drives the deadlines."""
SOURCE: Final = "saga"
TIMEOUT_NAMESPACE: Final = uuid.UUID("0b5e3d3c-8f3e-4f7a-a7c4-5b0f1d6e2a90")
SWEEP: Final = 500
"""Deadlines handled per tick at most (the rest wait for the next tick)."""
POLICY: Final = DeliveryPolicy.of(
    max_attempts=5, delay="PT0.5S", max_delay="PT30S", timeout="PT10S"
)
Clock = Callable[[], float]


def create_app(
    store: SagaStore,
    payments: PaymentProvider,
    *,
    settings: SagaSettings | None = None,
    catalog: Catalog | None = None,
    policy: DeliveryPolicy = POLICY,
    clock: Clock = time.time,
) -> App:
    """The saga App over ``store`` and ``payments``; emitted events are validated."""
    schemas, options = catalog or load_catalog(), settings or SagaSettings()
    app = App("saga", policy=policy)

    def emit(ctx: Context, type_: str, data: dict[str, Any]) -> Event:
        schemas.validate(type_, data)
        return ctx.derive(type=type_, data=data, source=SOURCE, partitionkey=data["orderId"])

    @app.on(type=ORDER_PLACED, name="reserve", emits=[INVENTORY_RESERVED, INVENTORY_REJECTED])
    async def inventory(event: Event, ctx: Context) -> Event:
        schemas.validate(event.type, event.data)
        order = event.data
        items = _quantities(order["items"])
        placed = await store.change(
            order["orderId"],
            states.place(
                items,
                total=str(order["total"]),
                now=clock(),
                payment_timeout=options.payment_timeout,
            ),
            skus=sorted(items),
        )
        if not placed.reserved:
            shortages = [s.__dict__ for s in placed.shortages]
            return emit(
                ctx, INVENTORY_REJECTED, {"orderId": order["orderId"], "shortages": shortages}
            )
        keep = ("orderId", "total", "currency", "paymentToken")
        return emit(ctx, INVENTORY_RESERVED, {k: order[k] for k in keep})

    @app.on(type=INVENTORY_RESERVED, name="charge", emits=[PAYMENT_ACCEPTED, PAYMENT_REFUSED])
    async def payment(event: Event, ctx: Context) -> Event | None:
        data = event.data
        order_id = data["orderId"]
        current = (await store.state(order_id)).get("payment")
        if current == "pending":
            amount = str(data["total"])
            outcome = await payments.charge(order_id, amount, data["paymentToken"])
            settle = states.settle_payment(
                outcome, now=clock(), shipping_timeout=options.shipping_timeout
            )
            current = await store.change(order_id, settle)
        if current == "accepted":
            body = {k: data[k] for k in ("orderId", "total", "currency")}
            return emit(ctx, PAYMENT_ACCEPTED, body)
        if current == "refused":
            return emit(ctx, PAYMENT_REFUSED, {"orderId": order_id, "reason": "card declined"})
        if current == "timed_out":  # the deadline won: undo a charge this step may have made
            await _refund(order_id)
        return None

    async def _refund(order_id: str) -> None:
        if await payments.refund(order_id):
            await store.change(order_id, states.refunded)

    @app.on(type=PAYMENT_ACCEPTED, name="ship", emits=[SHIPMENT_SCHEDULED])
    async def shipping(event: Event, ctx: Context) -> Event | None:
        order_id = event.data["orderId"]
        shipment = str(uuid.uuid5(TIMEOUT_NAMESPACE, f"{order_id}/shipment"))
        if await store.change(order_id, states.schedule_shipment(shipment)) != "scheduled":
            return None  # the shipping deadline passed first: compensation owns the order
        return emit(ctx, SHIPMENT_SCHEDULED, {"orderId": order_id, "shipmentId": shipment})

    @app.on(type=SHIPMENT_SCHEDULED, name="complete", emits=[ORDER_COMPLETED])
    async def completion(event: Event, ctx: Context) -> Event | None:
        order_id = event.data["orderId"]
        if await store.change(order_id, states.complete) != "completed":
            return None
        shipment = event.data["shipmentId"]
        return emit(ctx, ORDER_COMPLETED, {"orderId": order_id, "shipmentId": shipment})

    triggers = any_of(
        exact(type=INVENTORY_REJECTED), exact(type=PAYMENT_REFUSED), exact(type=STEP_TIMED_OUT)
    )

    @app.on(triggers, name="compensate", emits=[ORDER_CANCELLED])
    async def compensation(event: Event, ctx: Context) -> Event | None:
        order_id = event.data["orderId"]
        if (await store.state(order_id)).get("payment") in ("accepted", "timed_out"):
            await _refund(order_id)
        ended = await store.change(order_id, states.cancel(_reason(event)))
        if ended.order != "cancelled":
            return None
        data = {"orderId": order_id, "reason": ended.reason, "undone": list(ended.undone)}
        return emit(ctx, ORDER_CANCELLED, data)

    @app.on(type=PING, name="deadlines", emits=[STEP_TIMED_OUT])
    async def deadlines(event: Event, ctx: Context) -> None:
        for order_id, step in await store.due(clock(), limit=SWEEP):
            if await store.change(order_id, states.time_out(step)) == "timed_out":
                ctx.emit(_timed_out(order_id, step))

    return app


def _quantities(items: list[dict[str, Any]]) -> dict[str, int]:
    """Quantity per SKU (lines of one SKU added up)."""
    quantities: dict[str, int] = {}
    for line in items:
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + int(line["quantity"])
    return quantities


def _reason(event: Event) -> str:
    if event.type == INVENTORY_REJECTED:
        return "out_of_stock"
    if event.type == PAYMENT_REFUSED:
        return "payment_refused"
    return f"{event.data['step']}_timed_out"


def _timed_out(order_id: str, step: str) -> Event:
    """A step's timeout, with an id fixed by (order, step): a tick that re-sends it (its
    compensation not yet done) sends the same event, which idempotency drops."""
    return Event.create(
        type=STEP_TIMED_OUT,
        source=SOURCE,
        id=str(uuid.uuid5(TIMEOUT_NAMESPACE, f"{order_id}/{step}/timed-out")),
        data={"orderId": order_id, "step": step},
        partitionkey=order_id,
    )


def from_settings(settings: SagaSettings) -> App:
    """Redis when ``SAGA_REDIS_URL`` is set, else memory seeded with the starting stock."""
    stock = {p["sku"]: int(p["stock"]) for p in _products(settings)}
    store: SagaStore
    if settings.redis_url is None:
        store = MemorySagaStore(levels=dict(stock))
        ledger: MemoryLedger | RedisLedger = MemoryLedger()
    else:
        url = settings.redis_url.get_secret_value()
        ttl = int(settings.state_ttl_days * 86400)
        seed = stock if settings.seed_stock else None
        redis_store = RedisSagaStore.from_url(
            url, prefix=settings.key_prefix, ttl=ttl, initial_stock=seed
        )
        ledger = RedisLedger(redis_store.redis, prefix=f"{settings.key_prefix}:payments")
        store = redis_store
    provider = SimulatedProvider(ledger, hang=settings.provider_hang)
    return create_app(store, provider, settings=settings)


def _products(settings: SagaSettings) -> list[dict[str, Any]]:
    return list(json.loads(settings.products_file.read_text(encoding="utf-8"))["products"])


app = from_settings(SagaSettings())


def app_for(settings: Settings) -> App:
    """The App on shared servers (``tidal dev --kafka``): order records, timelines, deadlines,
    stock (seeded where missing) and the payment ledger in that run's Redis
    (``settings.idempotency.redis_url``); the rest from ``SAGA_*``."""
    return from_settings(SagaSettings(redis_url=settings.idempotency.redis_url, seed_stock=True))
