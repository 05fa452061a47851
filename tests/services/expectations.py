"""What a run of the gateway's traffic must end with, computed from the payloads alone, and the
assertions that compare a finished run with it. Shared by the end-to-end tests on the memory
transport and on Kafka.

Nothing here calls the services' code: alert rules, route distances (dense sampling instead of
the service's projection), points (exact decimals), stock and receipts are worked out again.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from services.fleet.stores import FleetStore
from services.fleet.vehicles import VehicleRegistry
from services.gateway.traffic import Sent
from services.orders.stores import OrdersStore

from tidal import Event

SERVICES = Path(__file__).resolve().parents[2] / "services"
SCARCE = "LTD-VINYL"


@dataclass
class Expected:
    """Everything the run must end with, computed from the payloads that were accepted."""

    readings: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    alerts: set[tuple[str, str]] = field(default_factory=set)  # (kind, alert key)
    stock: dict[str, int] = field(default_factory=dict)
    points: Counter[str] = field(default_factory=Counter)
    out_of_stock: int = 0
    receipts: set[str] = field(default_factory=set)
    high_value: int = 0
    payments: set[str] = field(default_factory=set)
    dead: set[tuple[str, str]] = field(default_factory=set)  # (subscriber, event id)


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12742.0176 * math.asin(math.sqrt(h))


def _off_route(point: tuple[float, float], route: list[list[float]]) -> float:
    """Distance to the route by dense sampling (a different method from the service's)."""
    samples = (
        (a[0] + (b[0] - a[0]) * i / 400, a[1] + (b[1] - a[1]) * i / 400)
        for a, b in itertools.pairwise(route)
        for i in range(401)
    )
    return min(_haversine(point, s) for s in samples)


def expect(sent: list[Sent]) -> Expected:
    fleet = json.loads((SERVICES / "fleet" / "vehicles.json").read_text())
    routes = {v["vehicleId"]: fleet["routes"].get(v["routeId"] or "") for v in fleet["vehicles"]}
    products = json.loads((SERVICES / "orders" / "products.json").read_text())["products"]
    out = Expected(stock={p["sku"]: p["stock"] for p in products})
    seen: set[str] = set()
    scarce_orders = 0
    for item in sent:
        if item.kind == "mistake":
            continue
        path, payload = item.request.url.path, json.loads(item.request.content)
        if path == "/events":
            payload = payload["data"]
        key = payload.get("messageId") or payload.get("orderId") or payload["id"]
        if key in seen:
            continue
        seen.add(key)
        if path in ("/telemetry", "/events"):
            _reading(out, payload, routes, key)
        elif path == "/webhooks/pos":
            scarce_orders += _order(out, payload)
        else:
            out.payments.add(payload["data"]["object"]["metadata"]["orderId"])
    fulfilled = min(out.stock[SCARCE], scarce_orders)
    out.stock[SCARCE] -= fulfilled
    out.out_of_stock = scarce_orders - fulfilled
    return out


def _reading(out: Expected, r: dict[str, Any], routes: dict[str, Any], key: str) -> None:
    if r["vehicleId"] not in routes:
        out.dead.add(("fleet/telemetry", key))
        return
    out.readings[r["vehicleId"]].add(r["timestamp"])
    alert = f"{r['vehicleId']}/{r['timestamp']}/"
    temp = r["engineTemperature"]
    celsius = temp["value"] if temp["unit"] == "C" else (temp["value"] - 32) * 5 / 9
    if celsius > 105:
        out.alerts.add(("overheating", alert + "overheating"))
    if r["metrics"]["fuelPercentage"] < 15:
        out.alerts.add(("low-fuel", alert + "low-fuel"))
    route = routes[r["vehicleId"]]
    point = (r["coordinates"]["lat"], r["coordinates"]["lon"])
    if route is not None and _off_route(point, route["waypoints"]) > 2.0:
        out.alerts.add(("route-deviation", alert + "route-deviation"))


def _order(out: Expected, order: dict[str, Any]) -> int:
    """Accounts for one valid order (or its dead letters); 1 when it asks for the scarce SKU."""
    total = Decimal(str(order["total"]))
    lines = sum(Decimal(str(i["unitPrice"])) * i["qty"] for i in order["items"])
    high = (
        total > 100
        and order["payment"]["status"] == "SUCCESS"
        and order["channel"] != "test"
        and order["storeId"].startswith("store-")
    )
    if total != lines:
        subscribers = ["inventory", "loyalty", "receipts", *(["high-value"] if high else [])]
        out.dead.update((f"orders/{s}", order["orderId"]) for s in subscribers)
        return 0
    out.points[order["customer"]["id"]] += int((total * 10).to_integral_value(ROUND_FLOOR))
    out.receipts.add(
        f"receipts/{order['finalizedAt'][:10].replace('-', '/')}/{order['orderId']}.json"
    )
    out.high_value += high
    skus = [i["sku"] for i in order["items"]]
    if SCARCE in skus:
        assert order["items"] == [{"sku": SCARCE, "qty": 1, "unitPrice": 34.99}]
        return 1
    for item in order["items"]:
        out.stock[item["sku"]] -= item["qty"]
    return 0


def unique(events: list[Event], event_type: str) -> dict[str, Event]:
    return {e.id: e for e in events if e.type == event_type}


async def assert_state(
    want: Expected, fleet: FleetStore, orders: OrdersStore, s3: Any, bucket: str
) -> None:
    """Readings, outboxes, stock, points, receipts and payments are exactly as computed."""
    for vehicle in VehicleRegistry.load():
        assert set(await fleet.readings(vehicle.id)) == want.readings[vehicle.id]
    notes = await fleet.outbox("notifications")
    assert len(notes) == len(want.alerts)
    assert {(n["type"].split(".")[-2], n["alertKey"]) for n in notes} == want.alerts
    jobs = await fleet.outbox("maintenance")
    assert sorted(j["alertId"] for j in jobs) == sorted(
        n["alertId"] for n in notes if n["type"].endswith("overheating.v1")
    )
    for sku, level in want.stock.items():
        assert await orders.stock(sku) == level, sku
    assert want.stock[SCARCE] == 0
    for customer in {f"cust-{n:04d}" for n in range(1, 301)}:
        assert await orders.points(customer) == want.points[customer], customer
    listed = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    assert {o["Key"] for page in listed for o in page.get("Contents", [])} == want.receipts
    for order_id in want.payments:
        assert await orders.payment(order_id) is not None


def assert_emitted(events: Iterable[Event], want: Expected) -> None:
    """The services emitted each derived event once (by id), as many as computed."""
    published = list(events)
    assert want.out_of_stock > 0
    assert len(unique(published, "com.acme.pos.inventory.out-of-stock.v1")) == want.out_of_stock
    assert len(unique(published, "com.acme.pos.receipt.issued.v1")) == len(want.receipts)
    assert len(unique(published, "com.acme.pos.order.high-value.v1")) == want.high_value
    assert len({e.data["alertKey"] for e in published if ".alert." in e.type}) == len(want.alerts)
    _check_tiers(published, want.points)


def assert_dead(letters: Iterable[Event], want: Expected) -> None:
    """Exactly the poison events are dead-lettered, by the subscribers expected, with reasons."""
    letters = list(letters)
    assert {(d.get_extension("tidalsubscriber"), d.id) for d in letters} == want.dead
    for letter in letters:
        reason = letter.get_extension("tidalerrormessage")
        assert "unknown vehicle" in reason or "does not equal the sum of the items" in reason
        assert int(letter.get_extension("tidalattempts")) == 1


def _check_tiers(published: list[Event], points: Counter[str]) -> None:
    """Each customer's TierUpdated events climb one way and end at the tier of the final total."""
    floors = {"bronze": 0, "silver": 1000, "gold": 5000, "platinum": 20000}
    final = {c: max(t for t, f in floors.items() if p >= f) for c, p in points.items()}
    updates: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in unique(published, "com.acme.pos.loyalty.tier-updated.v1").values():
        updates[event.data["customerId"]].append(event.data)
    for customer, total in points.items():
        chain = sorted(updates[customer], key=lambda u: u["points"])
        tier = (
            "bronze"
            if total < 1000
            else max(floors, key=lambda t: floors[t] if total >= floors[t] else -1)
        )
        assert (chain[-1]["tier"] if chain else "bronze") == tier, customer
        for earlier, later in itertools.pairwise(chain):
            assert floors[later["previousTier"]] >= floors[earlier["previousTier"]]
            assert earlier["tier"] == later["previousTier"]
    assert final  # every customer ordered something
