"""The orders App: one OrderConfirmed fans out to independent subscriptions.

- ``inventory``: take the order from stock, all or nothing, once per order; a short line emits
  ``OutOfStock`` (stock never goes negative).
- ``loyalty``: credit ``floor(total * 10)`` points once per order; a tier change emits
  ``TierUpdated``.
- ``receipts``: write the receipt document to object storage once; emits ``ReceiptIssued``.
- ``high-value``: only orders over 100, paid, from a store, not test orders (a content filter on
  ``data``); emits ``HighValueOrder`` for the CRM.
- ``payments``: record the payment of a completed checkout (Stripe-style webhook) once per order.

Every subscription checks the order (schema, decimals, total = sum of the lines): an order that
fails is dead-lettered by each. Emitted events get ids from ``ctx.derive``, so a retry re-emits
the same ids. ``tidal run services.orders.app:app`` serves the module-level ``app`` built from
``ORDERS_*`` settings; tests call `create_app` with their own stores.
"""

from __future__ import annotations

import json
from typing import Any, Final

from services.catalog import Catalog, load_catalog
from services.orders.loyalty import points_for, tier_for
from services.orders.parsing import ORDER_CONFIRMED, Order, parse_order
from services.orders.receipts import (
    DirectoryReceiptStore,
    ReceiptStore,
    S3ReceiptStore,
    encode,
    receipt,
    receipt_key,
)
from services.orders.settings import OrdersSettings
from services.orders.stores import MemoryOrdersStore, OrdersStore, RedisOrdersStore
from tidal import App, Context, DeliveryPolicy, Event, Settings

CHECKOUT_COMPLETED: Final = "com.acme.payments.checkout.completed.v1"
OUT_OF_STOCK: Final = "com.acme.pos.inventory.out-of-stock.v1"
TIER_UPDATED: Final = "com.acme.pos.loyalty.tier-updated.v1"
RECEIPT_ISSUED: Final = "com.acme.pos.receipt.issued.v1"
HIGH_VALUE: Final = "com.acme.pos.order.high-value.v1"
HIGH_VALUE_PATTERN: Final = {
    "total": [{"numeric": [">", 100]}],
    "payment": {"status": ["SUCCESS"]},
    "channel": [{"anything-but": ["test"]}],
    "storeId": [{"prefix": "store-"}],
}
POLICY: Final = DeliveryPolicy.of(
    max_attempts=5, delay="PT0.5S", max_delay="PT30S", timeout="PT10S"
)


def create_app(
    store: OrdersStore,
    receipts: ReceiptStore,
    *,
    catalog: Catalog | None = None,
    receipts_prefix: str = "receipts/",
    policy: DeliveryPolicy = POLICY,
) -> App:
    """The orders App over ``store`` and ``receipts``."""
    schemas = catalog or load_catalog()
    app = App("orders", policy=policy)

    def order_of(event: Event) -> Order:
        return parse_order(schemas, event.type, event.data)

    @app.on(type=ORDER_CONFIRMED, name="inventory", emits=[OUT_OF_STOCK])
    async def inventory(event: Event, ctx: Context) -> Event | None:
        order = order_of(event)
        outcome = await store.reserve(order.order_id, order.quantities())
        if outcome.status == "reserved":
            return None
        shortages = [
            {"sku": s.sku, "requested": s.requested, "available": s.available}
            for s in outcome.shortages
        ]
        data = {"orderId": order.order_id, "shortages": shortages}
        return ctx.derive(type=OUT_OF_STOCK, data=data, partitionkey=order.order_id)

    @app.on(type=ORDER_CONFIRMED, name="loyalty", emits=[TIER_UPDATED])
    async def loyalty(event: Event, ctx: Context) -> Event | None:
        order = order_of(event)
        credit = await store.credit(order.order_id, order.customer_id, points_for(order.total))
        before, after = tier_for(credit.before), tier_for(credit.after)
        if before == after:
            return None
        data = {
            "customerId": order.customer_id,
            "orderId": order.order_id,
            "previousTier": before,
            "tier": after,
            "points": credit.after,
        }
        return ctx.derive(type=TIER_UPDATED, data=data, partitionkey=order.customer_id)

    @app.on(type=ORDER_CONFIRMED, name="receipts", emits=[RECEIPT_ISSUED])
    async def receipts_(event: Event, ctx: Context) -> Event:
        order = order_of(event)
        key = receipt_key(order, receipts_prefix)
        await receipts.put_once(key, encode(receipt(order)))
        data = {"orderId": order.order_id, "location": receipts.location(key)}
        return ctx.derive(type=RECEIPT_ISSUED, data=data, partitionkey=order.order_id)

    @app.on(type=ORDER_CONFIRMED, data=HIGH_VALUE_PATTERN, name="high-value", emits=[HIGH_VALUE])
    async def high_value(event: Event, ctx: Context) -> Event:
        order = order_of(event)
        data = {
            "orderId": order.order_id,
            "customerId": order.customer_id,
            "total": float(order.total),
            "currency": order.currency,
        }
        return ctx.derive(type=HIGH_VALUE, data=data, partitionkey=order.customer_id)

    @app.on(type=CHECKOUT_COMPLETED, name="payments")
    async def payments(event: Event) -> None:
        schemas.validate(event.type, event.data)
        payment = {**event.data, "eventId": event.id}
        await store.record_payment(event.data["orderId"], payment)

    return app


def load_products(settings: OrdersSettings) -> dict[str, Any]:
    """The products file: currency and, per SKU, name, unit price and starting stock."""
    return dict(json.loads(settings.products_file.read_text(encoding="utf-8")))


def starting_stock(settings: OrdersSettings) -> dict[str, int]:
    return {p["sku"]: int(p["stock"]) for p in load_products(settings)["products"]}


def stores_from(settings: OrdersSettings) -> tuple[OrdersStore, ReceiptStore]:
    """Redis / S3 when configured, else memory (seeded with the starting stock) / a directory."""
    store: OrdersStore
    if settings.redis_url is None:
        store = MemoryOrdersStore(levels=starting_stock(settings))
    else:
        store = RedisOrdersStore.from_url(
            settings.redis_url.get_secret_value(),
            prefix=settings.key_prefix,
            marker_ttl=settings.marker_ttl_days * 86400,
            initial_stock=starting_stock(settings) if settings.seed_stock else None,
        )
    receipts: ReceiptStore
    if settings.receipts_bucket is None:
        receipts = DirectoryReceiptStore(settings.receipts_dir)
    else:
        import boto3  # type: ignore[import-untyped]

        client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region
        )
        receipts = S3ReceiptStore(client, settings.receipts_bucket)
    return store, receipts


def from_settings(settings: OrdersSettings) -> App:
    store, receipts = stores_from(settings)
    return create_app(store, receipts, receipts_prefix=settings.receipts_prefix)


app = from_settings(OrdersSettings())


def app_for(settings: Settings) -> App:
    """The App on shared servers (``tidal dev --kafka``): stock (seeded where missing), points
    and payments in that run's Redis (``settings.idempotency.redis_url``), receipts in the
    local directory; the rest from ``ORDERS_*``."""
    orders = OrdersSettings(
        redis_url=settings.idempotency.redis_url, seed_stock=True, receipts_bucket=None
    )
    return from_settings(orders)
