"""``GET /orders/{order_id}/timeline``: an order saga's state and step changes, as JSON.

The saga (`services.saga`) keeps each order's record and timeline in Redis; the gateway reads
them through the saga's own store (`services.saga.stores.RedisSagaStore`, one ``MULTI``: the
state and the timeline agree), so the key layout lives in one place. The API calls
`Timelines.read` after the bearer token check. Enabled by ``GATEWAY_SAGA_REDIS_URL`` and
``GATEWAY_SAGA_KEY_PREFIX`` (the saga's ``SAGA_REDIS_URL`` / ``SAGA_KEY_PREFIX``); without a
URL the route answers 404 ``timeline_disabled`` saying which variable to set. An unknown order
is 404 ``not_found``; Redis refusing, unreachable or timing out is 503
``dependency_unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field

from services.gateway.errors import Refusal
from services.gateway.settings import GatewaySettings
from services.saga.stores import RedisSagaStore, SagaStore
from tidal import RetryableError

MAX_ORDER_ID: Final = 64
"""The catalogue's ``orderId`` maxLength (com.acme.shop.order.placed.v1): no saga has a longer."""
CONNECTIONS: Final = 16
"""Redis connections per gateway process for timeline reads (callers wait for a free one)."""


class Entry(BaseModel):
    """One step change: when (UTC, milliseconds), which step, to which status."""

    at: str = Field(examples=["2026-12-06T08:40:01.120Z"])
    step: str = Field(examples=["payment"])
    status: str = Field(examples=["pending"])


class OrderTimeline(BaseModel):
    """An order's saga: where it is, its stored fields, and every step change, oldest first."""

    orderId: str  # the catalogue's spelling
    status: str = Field(
        description="the order's state: placed, completed or cancelled", examples=["cancelled"]
    )
    state: dict[str, str] = Field(
        description="the saga's record of the order (services/saga/states.py): order, inventory,"
        " payment, shipping, reason, undone, items, total, ..."
    )
    timeline: list[Entry]


class Timelines:
    """Reads timelines from the saga's store, or refuses every read when none is configured."""

    def __init__(self, store: SagaStore | None) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Timelines:
        if settings.saga_redis_url is None:
            return cls(None)
        url = settings.saga_redis_url.get_secret_value()
        store = RedisSagaStore.from_url(
            url, max_connections=CONNECTIONS, prefix=settings.saga_key_prefix
        )
        return cls(store)

    async def read(self, order_id: str) -> OrderTimeline:
        if self.store is None:
            raise Refusal(
                404,
                "timeline_disabled",
                "order timelines are off: set GATEWAY_SAGA_REDIS_URL (and GATEWAY_SAGA_KEY_PREFIX"
                " if not 'saga') to the saga's SAGA_REDIS_URL (and SAGA_KEY_PREFIX)",
            )
        if len(order_id) > MAX_ORDER_ID:
            raise _unknown(order_id[:MAX_ORDER_ID] + "...")
        try:
            state, entries = await self.store.history(order_id)
        except RetryableError as exc:
            raise Refusal(
                503, "dependency_unavailable", "the saga's Redis did not answer; retry"
            ) from exc
        if not state:
            raise _unknown(order_id)
        return OrderTimeline(
            orderId=order_id,
            status=state.get("order", "unknown"),
            state=state,
            timeline=[Entry(**entry) for entry in entries],
        )

    async def close(self) -> None:
        if isinstance(self.store, RedisSagaStore):
            await self.store.aclose()


def _unknown(order_id: str) -> Refusal:
    return Refusal(404, "not_found", f"no saga for order {order_id!r}", field="order_id")
