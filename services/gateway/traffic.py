"""Realistic traffic for the gateway: vehicles on their routes, POS tills, a payment provider.

`Traffic` yields `Sent` items: an ``httpx.Request`` for the gateway and what kind of request it
is: ``ok``, ``duplicate`` (a request sent again, as a retrying client would), ``poison`` (valid
for the gateway, refused by the service: an unknown vehicle, an order whose lines do not add up
to its total) or ``mistake`` (refused by the gateway: bad token, bad signature, off-schema).
`tidal dev` posts these in process; the end-to-end tests post them and check every outcome
against what they compute from the payloads themselves.

Vehicles drive their planned routes (``services/fleet/vehicles.json``) back and forth with GPS
noise under 100 m; now and then an engine runs hot (106-118 °C, Hamburg's units report °F),
tanks run low (refilled below 8 %) or a driver leaves the route by 6 km or more. Orders use
the products of ``services/orders/products.json``; the limited-edition SKU is scarce on purpose.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from services.gateway.auth import sign

Kind = Literal["ok", "duplicate", "poison", "mistake"]
SERVICES: Final = Path(__file__).resolve().parents[1]
BASE: Final = "http://gateway"
FAHRENHEIT_DEPOTS: Final = frozenset({"Hamburg"})
SCARCE_SKU: Final = "LTD-VINYL"
STORES: Final = ("store-berlin-01", "store-berlin-02", "store-hamburg-01", "store-munich-01")


@dataclass(frozen=True)
class Sent:
    request: httpx.Request
    kind: Kind


@dataclass(frozen=True)
class Credentials:
    token: str
    pos_secret: str
    payment_secret: str


@dataclass
class _Vehicle:
    id: str
    depot: str
    route: list[tuple[float, float]]
    progress: float
    fuel: float
    step: float = 0.02


@dataclass
class _State:
    vehicles: list[_Vehicle]
    products: list[dict[str, Any]]
    sent: list[tuple[str, bytes, str]] = field(default_factory=list)  # path, body, auth kind
    unpaid: list[dict[str, Any]] = field(default_factory=list)
    number: int = 0


class Traffic:
    """An endless, seedable stream of gateway requests."""

    def __init__(
        self,
        rng: random.Random,
        credentials: Credentials,
        *,
        duplicates: float = 0.05,
        poison: float = 0.01,
        mistakes: float = 0.01,
        start: datetime | None = None,
    ) -> None:
        self.rng = rng
        self.credentials = credentials
        self.rates = (duplicates, poison, mistakes)
        self.start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.run = f"{rng.getrandbits(24):06x}"
        self.state = _State(vehicles=_vehicles(rng), products=_products())

    def __iter__(self) -> Iterator[Sent]:
        while True:
            yield self.next()

    def next(self) -> Sent:
        duplicates, poison, mistakes = self.rates
        roll = self.rng.random()
        if roll < duplicates and self.state.sent:
            return self._again()
        if roll < duplicates + poison:
            return self._poison()
        if roll < duplicates + poison + mistakes:
            return self._mistake()
        return self._fresh()

    # -- the kinds --------------------------------------------------------------------------

    def _fresh(self) -> Sent:
        self.state.number += 1
        roll = self.rng.random()
        if roll < 0.55:
            return self._telemetry(self._reading(self.rng.choice(self.state.vehicles)))
        if roll < 0.9 or not self.state.unpaid:
            return self._order(self._basket())
        return self._payment(self.state.unpaid.pop(self.rng.randrange(len(self.state.unpaid))))

    def _again(self) -> Sent:
        path, body, auth = self.rng.choice(self.state.sent[-200:])
        return Sent(self._request(path, body, auth, remember=False), "duplicate")

    def _poison(self) -> Sent:
        self.state.number += 1
        if self.rng.random() < 0.5:
            reading = self._reading(self.rng.choice(self.state.vehicles))
            reading["vehicleId"] = f"VH-9{self.rng.randrange(100, 999)}"  # not in the fleet
            return Sent(self._telemetry(reading).request, "poison")
        order = self._basket()
        order["total"] = float(Decimal(str(order["total"])) + Decimal("0.01"))
        return Sent(self._order(order).request, "poison")

    def _mistake(self) -> Sent:
        self.state.number += 1
        reading = self._reading(self.rng.choice(self.state.vehicles))
        choice = self.rng.randrange(3)
        if choice == 0:  # a wrong token: 401
            body = _dumps(reading)
            headers = {"authorization": "Bearer not-a-token", "content-type": "application/json"}
            return Sent(
                httpx.Request("POST", f"{BASE}/telemetry", headers=headers, content=body), "mistake"
            )
        if choice == 1:  # off-schema: 422 naming metrics.speedKph
            reading["metrics"]["speedKph"] = -5
            return Sent(
                self._request("/telemetry", _dumps(reading), "bearer", remember=False), "mistake"
            )
        body = _dumps(self._basket())  # signed with the wrong secret: 401
        headers = _pos_headers("not-the-secret", body)
        return Sent(
            httpx.Request("POST", f"{BASE}/webhooks/pos", headers=headers, content=body), "mistake"
        )

    # -- payloads ---------------------------------------------------------------------------

    def _moment(self) -> str:
        moment = self.start + timedelta(seconds=self.state.number)
        return moment.isoformat().replace("+00:00", "Z")

    def _reading(self, vehicle: _Vehicle) -> dict[str, Any]:
        rng = self.rng
        lat, lon = _along(vehicle.route, vehicle.progress)
        vehicle.progress = (vehicle.progress + vehicle.step) % 2.0
        lat, lon = lat + rng.uniform(-0.0006, 0.0006), lon + rng.uniform(-0.0006, 0.0006)
        if rng.random() < 0.02 and len(vehicle.route) > 1:
            lat, lon = _away(vehicle.route, (lat, lon), rng)
        vehicle.fuel -= rng.uniform(0.1, 0.5)
        if vehicle.fuel < 8:
            vehicle.fuel = rng.uniform(88, 96)
        celsius = rng.uniform(106, 118) if rng.random() < 0.03 else rng.uniform(86, 99)
        unit = "F" if vehicle.depot in FAHRENHEIT_DEPOTS else "C"
        value = round(celsius * 9 / 5 + 32, 1) if unit == "F" else round(celsius, 1)
        return {
            "vehicleId": vehicle.id,
            "messageId": f"msg-{self.run}-{self.state.number:07d}",
            "timestamp": self._moment(),
            "coordinates": {"lat": round(lat, 6), "lon": round(lon, 6)},
            "metrics": {
                "speedKph": round(rng.uniform(0, 90), 1),
                "fuelPercentage": round(vehicle.fuel, 1),
            },
            "engineTemperature": {"value": value, "unit": unit},
        }

    def _basket(self) -> dict[str, Any]:
        rng, products = self.rng, self.state.products
        if rng.random() < 0.04:
            chosen = [(_product(products, SCARCE_SKU), 1)]
        else:
            common = [p for p in products if p["sku"] != SCARCE_SKU]
            picks = rng.sample(common, rng.randint(1, 4))
            chosen = [(p, rng.choice((1, 1, 1, 2, 3))) for p in picks]
        lines = [{"sku": p["sku"], "qty": q, "unitPrice": p["unitPrice"]} for p, q in chosen]
        total = sum((Decimal(str(p["unitPrice"])) * q for p, q in chosen), Decimal(0))
        channel = rng.choices(("pos", "web", "test"), weights=(80, 17, 3))[0]
        method = rng.choices(("card", "cash", "voucher"), weights=(70, 25, 5))[0]
        status = "SUCCESS" if rng.random() < 0.95 else "PENDING"
        return {
            "orderId": f"ord-{self.run}-{self.state.number:07d}",
            "finalizedAt": self._moment(),
            "storeId": "web-shop" if channel == "web" else rng.choice(STORES),
            "channel": channel,
            "customer": {"id": f"cust-{rng.randint(1, 300):04d}"},
            "items": lines,
            "total": float(total),
            "currency": "EUR",
            "payment": {"method": method, "status": status},
        }

    # -- requests ---------------------------------------------------------------------------

    def _telemetry(self, reading: dict[str, Any]) -> Sent:
        if self.rng.random() < 0.7:
            return Sent(self._request("/telemetry", _dumps(reading), "bearer"), "ok")
        event = {
            "specversion": "1.0",
            "id": reading["messageId"],
            "source": "com.acme.fleet.telematics",
            "type": "com.acme.fleet.telemetry.v1",
            "time": reading["timestamp"],
            "partitionkey": reading["vehicleId"],
            "datacontenttype": "application/json",
            "data": reading,
        }
        return Sent(self._request("/events", _dumps(event), "structured"), "ok")

    def _order(self, order: dict[str, Any]) -> Sent:
        if order["payment"]["method"] == "card" and self.rng.random() < 0.5:
            self.state.unpaid.append(order)
        return Sent(self._request("/webhooks/pos", _dumps(order), "pos"), "ok")

    def _payment(self, order: dict[str, Any]) -> Sent:
        cents = int(Decimal(str(order["total"])) * 100)
        webhook = {
            "id": f"evt_{self.run}{self.state.number:07d}",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"cs_{self.run}{self.state.number:07d}",
                    "object": "checkout.session",
                    "amount_total": cents,
                    "currency": "eur",
                    "payment_status": "paid",
                    "metadata": {"orderId": order["orderId"]},
                }
            },
        }
        return Sent(self._request("/webhooks/payments", _dumps(webhook), "payments"), "ok")

    def _request(
        self, path: str, body: bytes, auth: str, *, remember: bool = True
    ) -> httpx.Request:
        if remember:
            self.state.sent.append((path, body, auth))
        creds = self.credentials
        headers: dict[str, str]
        if auth == "pos":
            headers = _pos_headers(creds.pos_secret, body)
        elif auth == "payments":
            now = int(time.time())
            headers = {
                "content-type": "application/json",
                "stripe-signature": f"t={now},v1={sign(creds.payment_secret, now, body)}",
            }
        else:
            kind = "application/cloudevents+json" if auth == "structured" else "application/json"
            headers = {"authorization": f"Bearer {creds.token}", "content-type": kind}
        return httpx.Request("POST", f"{BASE}{path}", headers=headers, content=body)


def _pos_headers(secret: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    return {
        "content-type": "application/json",
        "x-acme-timestamp": str(now),
        "x-acme-signature": f"v1={sign(secret, now, body)}",
    }


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _vehicles(rng: random.Random) -> list[_Vehicle]:
    raw = json.loads((SERVICES / "fleet" / "vehicles.json").read_text(encoding="utf-8"))
    routes = {k: [tuple(p) for p in v["waypoints"]] for k, v in raw["routes"].items()}
    depots = {"Berlin": (52.52, 13.405), "Hamburg": (53.55, 10.0), "Munich": (48.137, 11.575)}
    return [
        _Vehicle(
            id=v["vehicleId"],
            depot=v["depot"],
            route=routes[v["routeId"]] if v["routeId"] else [depots[v["depot"]]],
            progress=rng.uniform(0, 2),
            fuel=rng.uniform(20, 95),
        )
        for v in raw["vehicles"]
    ]


def _products() -> list[dict[str, Any]]:
    raw = json.loads((SERVICES / "orders" / "products.json").read_text(encoding="utf-8"))
    return list(raw["products"])


def _product(products: list[dict[str, Any]], sku: str) -> dict[str, Any]:
    return next(p for p in products if p["sku"] == sku)


def _along(route: list[tuple[float, float]], progress: float) -> tuple[float, float]:
    """The point at ``progress`` (0..1 out, 1..2 back) along the route's waypoints."""
    if len(route) == 1:
        return route[0]
    t = progress if progress <= 1 else 2 - progress
    position = t * (len(route) - 1)
    index = min(int(position), len(route) - 2)
    f = position - index
    (a_lat, a_lon), (b_lat, b_lon) = route[index], route[index + 1]
    return a_lat + f * (b_lat - a_lat), a_lon + f * (b_lon - a_lon)


def _away(
    route: list[tuple[float, float]], point: tuple[float, float], rng: random.Random
) -> tuple[float, float]:
    """A point at least 6 km from every sampled point of the route (a clear deviation)."""
    angle = rng.uniform(0, 2 * math.pi)
    for km in (6.0, 9.0, 14.0, 20.0, 30.0):
        lat = point[0] + km / 111.2 * math.sin(angle)
        lon = point[1] + km / (111.2 * math.cos(math.radians(point[0]))) * math.cos(angle)
        if _min_km(route, (lat, lon)) > 5.0:
            return lat, lon
    return point[0] + 1.0, point[1]


def _min_km(route: list[tuple[float, float]], point: tuple[float, float]) -> float:
    best = math.inf
    for a, b in itertools.pairwise(route):
        for i in range(51):
            lat = a[0] + (b[0] - a[0]) * i / 50
            lon = a[1] + (b[1] - a[1]) * i / 50
            dy = (lat - point[0]) * 111.2
            dx = (lon - point[1]) * 111.2 * math.cos(math.radians(point[0]))
            best = min(best, math.hypot(dx, dy))
    return best
