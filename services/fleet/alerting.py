"""Readings and the alerts they raise: pure functions of the reading, the vehicle and thresholds.

The telemetry handler parses each event with `Reading.from_data` and calls `detect`; because the
alerts depend on nothing else, a retried or redelivered reading raises exactly the same alerts
(and `ctx.derive` gives them the same ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from services.fleet.geometry import distance_to_route_km
from services.fleet.vehicles import Vehicle

TemperatureUnit = Literal["C", "F"]

OVERHEATING: Final = "com.acme.fleet.alert.overheating.v1"
LOW_FUEL: Final = "com.acme.fleet.alert.low-fuel.v1"
ROUTE_DEVIATION: Final = "com.acme.fleet.alert.route-deviation.v1"


def to_celsius(value: float, unit: TemperatureUnit) -> float:
    return value if unit == "C" else (value - 32.0) * 5.0 / 9.0


def utc_text(moment: datetime) -> str:
    """A timestamp in one canonical form (UTC, ``Z``), so equal instants make equal keys."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """When a reading raises an alert; every comparison is strict ("above", "below")."""

    overheat: float = 105.0
    overheat_unit: TemperatureUnit = "C"
    low_fuel_percent: float = 15.0
    route_deviation_km: float = 2.0

    @property
    def overheat_c(self) -> float:
        return to_celsius(self.overheat, self.overheat_unit)


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One telemetry reading, already validated against its schema."""

    vehicle_id: str
    message_id: str
    timestamp: str  # canonical UTC text
    lat: float
    lon: float
    speed_kph: float
    fuel_percentage: float
    temperature: float
    unit: TemperatureUnit

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Reading:
        engine = data["engineTemperature"]
        return cls(
            vehicle_id=data["vehicleId"],
            message_id=data["messageId"],
            timestamp=utc_text(datetime.fromisoformat(data["timestamp"])),
            lat=float(data["coordinates"]["lat"]),
            lon=float(data["coordinates"]["lon"]),
            speed_kph=float(data["metrics"]["speedKph"]),
            fuel_percentage=float(data["metrics"]["fuelPercentage"]),
            temperature=float(engine["value"]),
            unit=engine["unit"],
        )

    @property
    def temperature_c(self) -> float:
        return to_celsius(self.temperature, self.unit)

    @property
    def location(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}

    def alert_key(self, kind: str) -> str:
        """The natural key of an alert: one per reading (vehicle, timestamp) and kind."""
        return f"{self.vehicle_id}/{self.timestamp}/{kind}"

    def document(self, vehicle: Vehicle, *, processed_at: datetime) -> dict[str, Any]:
        """The enriched record stored for audit."""
        return {
            "vehicleId": self.vehicle_id,
            "messageId": self.message_id,
            "timestamp": self.timestamp,
            "coordinates": self.location,
            "metrics": {"speedKph": self.speed_kph, "fuelPercentage": self.fuel_percentage},
            "engineTemperature": {"value": self.temperature, "unit": self.unit},
            "vehicle": vehicle.static_data(),
            "processed_at": utc_text(processed_at),
        }


@dataclass(frozen=True)
class Alert:
    type: str
    data: dict[str, Any]


def detect(reading: Reading, vehicle: Vehicle, thresholds: Thresholds) -> list[Alert]:
    """The alerts a reading raises, always in the same order."""
    alerts = []
    if reading.temperature_c > thresholds.overheat_c:
        alerts.append(_overheating(reading, thresholds))
    if reading.fuel_percentage < thresholds.low_fuel_percent:
        alerts.append(_low_fuel(reading, thresholds))
    if vehicle.route is not None:
        deviation = distance_to_route_km((reading.lat, reading.lon), vehicle.route.waypoints)
        if deviation > thresholds.route_deviation_km:
            alerts.append(_deviation(reading, vehicle.route.id, deviation, thresholds))
    return alerts


def _common(reading: Reading, kind: str) -> dict[str, Any]:
    return {
        "alertKey": reading.alert_key(kind),
        "vehicleId": reading.vehicle_id,
        "readingTimestamp": reading.timestamp,
        "location": reading.location,
    }


def _overheating(reading: Reading, thresholds: Thresholds) -> Alert:
    data = {
        **_common(reading, "overheating"),
        "temperature": {"value": reading.temperature, "unit": reading.unit},
        "temperatureC": round(reading.temperature_c, 2),
        "threshold": {"value": thresholds.overheat, "unit": thresholds.overheat_unit},
    }
    return Alert(OVERHEATING, data)


def _low_fuel(reading: Reading, thresholds: Thresholds) -> Alert:
    data = {
        **_common(reading, "low-fuel"),
        "fuelPercentage": reading.fuel_percentage,
        "thresholdPercent": thresholds.low_fuel_percent,
    }
    return Alert(LOW_FUEL, data)


def _deviation(reading: Reading, route_id: str, km: float, thresholds: Thresholds) -> Alert:
    data = {
        **_common(reading, "route-deviation"),
        "routeId": route_id,
        "deviationKm": round(km, 3),
        "thresholdKm": thresholds.route_deviation_km,
    }
    return Alert(ROUTE_DEVIATION, data)
