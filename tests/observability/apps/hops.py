"""Two services one event crosses: `first` turns an order into a receipt (sent to its
``K_SINK``), `second` takes the receipt."""

from __future__ import annotations

from tidal import App, Context, Event

first = App("obs-first")


@first.on(type="order.v1")
def order(event: Event, ctx: Context) -> Event:
    ctx.logger.info("order %s becomes a receipt", event.id)
    return ctx.derive(type="receipt.v1", data={"order": event.id})


second = App("obs-second")


@second.on(type="receipt.v1")
def receipt(event: Event, ctx: Context) -> None:
    ctx.logger.info("receipt %s filed", event.id)
