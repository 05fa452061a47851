"""A user's own App for `tidal dev module:app`: fails on demand, once (a retry) or always."""

from __future__ import annotations

from tidal import App, DeliveryPolicy, Event, RetryableError

app = App("shop")
failures: dict[str, int] = {}


@app.on(
    type="com.acme.order.created.v1",
    name="orders",
    policy=DeliveryPolicy.of(max_attempts=3, delay="PT0.05S"),
)
def orders(event: Event) -> None:
    fail = (event.data or {}).get("fail")
    if fail == "always":
        raise ValueError(f"order {event.id} has a negative total")
    if fail == "once" and failures.setdefault(event.id, 0) < 1:
        failures[event.id] += 1
        raise RetryableError("the stock service is busy")
