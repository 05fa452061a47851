"""An `OrderConfirmed` event's data as a typed order, with the checks a schema cannot make.

Every orders subscription calls `parse_order`: the catalogue schema first, then exact decimal
arithmetic: prices and the total have at most 2 decimals, and the total equals the sum of the
lines. An order that fails is an invalid event: dead-lettered by each subscriber, never retried.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from services.catalog import Catalog
from tidal import InvalidEventError

ORDER_CONFIRMED: Final = "com.acme.pos.order.confirmed.v1"
CENT: Final = Decimal("0.01")


@dataclass(frozen=True, kw_only=True)
class Line:
    sku: str
    qty: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.qty


@dataclass(frozen=True, kw_only=True)
class Order:
    order_id: str
    finalized_at: datetime
    store_id: str
    channel: str
    customer_id: str
    lines: tuple[Line, ...]
    total: Decimal
    currency: str

    def quantities(self) -> dict[str, int]:
        """Quantity per SKU (a SKU listed on two lines counts once, summed)."""
        counts: Counter[str] = Counter()
        for line in self.lines:
            counts[line.sku] += line.qty
        return dict(sorted(counts.items()))


def money(value: Any, field: str) -> Decimal:
    """A JSON number as an exact decimal (via its shortest text form), at most 2 decimals."""
    amount = Decimal(str(value))
    if amount != amount.quantize(CENT):
        raise InvalidEventError(f"data.{field}: {value} has more than 2 decimals")
    return amount


def parse_order(catalog: Catalog, event_type: str, data: Any) -> Order:
    """Validate and convert; raises `InvalidEventError` naming the field."""
    catalog.validate(event_type, data)
    lines = tuple(
        Line(sku=item["sku"], qty=item["qty"], unit_price=money(item["unitPrice"], f"items[{i}]"))
        for i, item in enumerate(data["items"])
    )
    total = money(data["total"], "total")
    expected = sum((line.amount for line in lines), Decimal(0))
    if total != expected:
        raise InvalidEventError(
            f"data.total: {total} does not equal the sum of the items, {expected}"
        )
    return Order(
        order_id=data["orderId"],
        finalized_at=datetime.fromisoformat(data["finalizedAt"]).astimezone(UTC),
        store_id=data["storeId"],
        channel=data["channel"],
        customer_id=data["customer"]["id"],
        lines=lines,
        total=total,
        currency=data["currency"],
    )
