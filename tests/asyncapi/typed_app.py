"""A typed App for the AsyncAPI and EventType tests: every payload form tidal takes.

``tidal asyncapi tests.asyncapi.typed_app:app`` and ``tidal manifests ... --event-types``
load it; the models nest (``Order.items`` is a list of ``Line``) so references are exercised.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from tidal import App, Context, Event, prefix

ORDER = "com.acme.pos.order.confirmed.v1"
HIGH_VALUE = "com.acme.pos.order.high-value.v1"
AUDITED = "com.acme.audit.recorded.v1"


class Line(BaseModel):
    sku: str
    qty: int = Field(gt=0)


class Order(BaseModel):
    """A confirmed order from a till."""

    orderId: str
    total: float
    items: list[Line]


class HighValueOrder(BaseModel):
    orderId: str
    total: float


@dataclasses.dataclass
class Reading:
    vehicleId: str
    speedKph: float


class Ping(TypedDict):
    seq: int


app = App("typed-orders")


@app.on(
    type=ORDER,
    source="/pos",
    data={"total": [{"numeric": [">", 100]}]},
    emits={HIGH_VALUE: HighValueOrder},
)
async def high_value(event: Event[Order], ctx: Context) -> Event:
    data = HighValueOrder(orderId=event.data.orderId, total=event.data.total)
    return ctx.derive(type=HIGH_VALUE, data=data)


@app.on(prefix(type="com.acme.fleet."), model=Reading, emits=[AUDITED])
def readings(event: Event) -> None:
    return None


@app.on(type="com.acme.ping.v1")
def ping(item: Ping) -> None:
    return None


@app.on(type="com.acme.raw.v1")
def raw(event: Event) -> None:
    return None
