"""Plain JSON payloads to CloudEvents: telemetry readings, POS orders, payment webhooks.

Every event id comes from the payload (``messageId``, ``orderId``, the webhook's ``evt_...``
id), never from a random number, so a payload sent twice becomes the same event twice and the
services' idempotency absorbs it. The API calls these after the payload passed its schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from tidal import Event

TELEMETRY: Final = "com.acme.fleet.telemetry.v1"
ORDER_CONFIRMED: Final = "com.acme.pos.order.confirmed.v1"
CHECKOUT_COMPLETED: Final = "com.acme.payments.checkout.completed.v1"
TELEMATICS_SOURCE: Final = "com.acme.fleet.telematics"
POS_SOURCE: Final = "com.acme.pos.transaction"
PAYMENTS_SOURCE: Final = "com.acme.payments.provider"
# Stripe-style event types the gateway turns into CloudEvents; others are acknowledged only.
PAYMENT_TYPES: Final = {"checkout.session.completed": CHECKOUT_COMPLETED}
# The partition key of each ingress type: the entity whose events must stay in order.
PARTITION_KEYS: Final = {
    TELEMETRY: ("vehicleId",),
    ORDER_CONFIRMED: ("customer", "id"),
    CHECKOUT_COMPLETED: ("orderId",),
}


def partition_key(event_type: str, data: Any) -> str | None:
    """The ``partitionkey`` for ``data`` of ``event_type`` (None when there is no rule)."""
    value = data
    for name in PARTITION_KEYS.get(event_type, ()):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value if isinstance(value, str) and value else None


def telemetry_event(reading: dict[str, Any]) -> Event:
    return Event.create(
        type=TELEMETRY,
        source=TELEMATICS_SOURCE,
        id=reading["messageId"],
        time=datetime.fromisoformat(reading["timestamp"]),
        subject=reading["vehicleId"],
        data=reading,
        partitionkey=reading["vehicleId"],
    )


def order_event(order: dict[str, Any]) -> Event:
    return Event.create(
        type=ORDER_CONFIRMED,
        source=POS_SOURCE,
        id=order["orderId"],
        time=datetime.fromisoformat(order["finalizedAt"]),
        subject=order["orderId"],
        data=order,
        partitionkey=order["customer"]["id"],
    )


def checkout_data(webhook: dict[str, Any]) -> dict[str, Any]:
    """The CheckoutCompleted data of a ``checkout.session.completed`` webhook."""
    session = webhook["data"]["object"]
    return {
        "sessionId": session["id"],
        "orderId": session["metadata"]["orderId"],
        "amountTotal": session["amount_total"],
        "currency": session["currency"].upper(),
        "paymentStatus": session["payment_status"],
        "created": datetime.fromtimestamp(webhook["created"], UTC)
        .isoformat()
        .replace("+00:00", "Z"),
    }


def payment_event(webhook: dict[str, Any], data: dict[str, Any]) -> Event:
    return Event.create(
        type=PAYMENT_TYPES[webhook["type"]],
        source=PAYMENTS_SOURCE,
        id=webhook["id"],
        time=datetime.fromtimestamp(webhook["created"], UTC),
        subject=data["orderId"],
        data=data,
        partitionkey=data["orderId"],
    )


# The envelope of a payment webhook, checked before it is mapped (JSON Schema 2020-12).
PAYMENT_WEBHOOK: Final = {
    "type": "object",
    "required": ["id", "type", "created", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^evt_[A-Za-z0-9]{1,64}$"},
        "type": {"type": "string", "minLength": 1, "maxLength": 128},
        "created": {"type": "integer", "minimum": 0, "maximum": 32503680000},
        "data": {
            "type": "object",
            "required": ["object"],
            "properties": {"object": {"type": "object"}},
        },
    },
}
CHECKOUT_SESSION: Final = {
    "type": "object",
    "required": ["id", "amount_total", "currency", "payment_status", "metadata"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 255},
        "amount_total": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[a-zA-Z]{3}$"},
        "payment_status": {"enum": ["paid", "unpaid", "no_payment_required"]},
        "metadata": {
            "type": "object",
            "required": ["orderId"],
            "properties": {
                "orderId": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
            },
        },
    },
}
