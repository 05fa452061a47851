"""The fleet App: telemetry in, readings stored once, alerts out, each alert fanned out once.

Subscriptions:

- ``telemetry`` (``com.acme.fleet.telemetry.v1``): validate, enrich with ``processed_at`` and the
  vehicle's static data, store (one reading per vehicle and timestamp), and emit the reading's
  alerts with ids from ``ctx.derive`` (a retry re-emits the same ids); counts
  ``TelemetryProcessed``.
  An unknown vehicle or a reading off its schema is an invalid event (dead-lettered at once).
- ``notify`` (every alert type): record the notification for the mechanic, once per alert key.
- ``maintenance`` (overheating only): schedule a maintenance job, once per alert key.

``tidal run services.fleet.app:app`` serves the module-level ``app``, built from ``FLEET_*``
settings; tests call `create_app` with their own store.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from services.catalog import Catalog, load_catalog
from services.fleet.alerting import (
    LOW_FUEL,
    OVERHEATING,
    ROUTE_DEVIATION,
    Reading,
    Thresholds,
    detect,
)
from services.fleet.settings import FleetSettings
from services.fleet.stores import FleetStore, MemoryFleetStore, RedisFleetStore
from services.fleet.vehicles import VehicleRegistry
from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError, Settings, prefix

TELEMETRY: Final = "com.acme.fleet.telemetry.v1"
ALERTS: Final = "com.acme.fleet.alert."
POLICY: Final = DeliveryPolicy.of(
    max_attempts=5, delay="PT0.5S", max_delay="PT30S", timeout="PT10S"
)

log = logging.getLogger("services.fleet")


@dataclass
class FleetMetrics:
    """The service's custom metric: ``TelemetryProcessed`` readings, in total and per vehicle."""

    telemetry_processed: int = 0
    by_vehicle: Counter[str] = field(default_factory=Counter)


def create_app(
    store: FleetStore,
    *,
    vehicles: VehicleRegistry,
    thresholds: Thresholds | None = None,
    catalog: Catalog | None = None,
    metrics: FleetMetrics | None = None,
    policy: DeliveryPolicy = POLICY,
) -> App:
    """The fleet App over ``store``."""
    limits = thresholds or Thresholds()
    schemas = catalog or load_catalog()
    counts = metrics if metrics is not None else FleetMetrics()
    app = App("fleet", policy=policy)

    @app.on(type=TELEMETRY, name="telemetry", emits=[OVERHEATING, LOW_FUEL, ROUTE_DEVIATION])
    async def telemetry(event: Event, ctx: Context) -> list[Event]:
        schemas.validate(event.type, event.data)
        reading = Reading.from_data(event.data)
        vehicle = vehicles.get(reading.vehicle_id)
        if vehicle is None:
            raise InvalidEventError(f"data.vehicleId: unknown vehicle {reading.vehicle_id!r}")
        document = reading.document(vehicle, processed_at=ctx.clock.now())
        await store.save_reading(reading.vehicle_id, reading.timestamp, document)
        counts.telemetry_processed += 1
        counts.by_vehicle[reading.vehicle_id] += 1
        ctx.logger.debug("TelemetryProcessed vehicle=%s", reading.vehicle_id)
        return [
            ctx.derive(type=alert.type, data=alert.data, partitionkey=reading.vehicle_id)
            for alert in detect(reading, vehicle, limits)
        ]

    @app.on(prefix(type=ALERTS), name="notify")
    async def notify(event: Event) -> None:
        schemas.validate(event.type, event.data)
        alert = event.data
        note = {"alertId": event.id, "type": event.type, **_summary(alert)}
        await store.record_once("notifications", alert["alertKey"], note)

    @app.on(type=OVERHEATING, name="maintenance")
    async def maintenance(event: Event) -> None:
        schemas.validate(event.type, event.data)
        alert = event.data
        job = {
            "alertId": event.id,
            "vehicleId": alert["vehicleId"],
            "reason": f"engine at {alert['temperatureC']} °C",
            "readingTimestamp": alert["readingTimestamp"],
        }
        await store.record_once("maintenance", alert["alertKey"], job)

    return app


def _summary(alert: dict[str, Any]) -> dict[str, Any]:
    return {
        "alertKey": alert["alertKey"],
        "vehicleId": alert["vehicleId"],
        "readingTimestamp": alert["readingTimestamp"],
        "location": alert["location"],
    }


def from_settings(settings: FleetSettings) -> App:
    """The App as configured: Redis when ``FLEET_REDIS_URL`` is set, else in memory."""
    store: FleetStore
    if settings.redis_url is None:
        store = MemoryFleetStore()
    else:
        store = RedisFleetStore.from_url(
            settings.redis_url.get_secret_value(),
            prefix=settings.key_prefix,
            marker_ttl=settings.marker_ttl_days * 86400,
        )
    thresholds = Thresholds(
        overheat=settings.overheat_threshold,
        overheat_unit=settings.overheat_unit,
        low_fuel_percent=settings.low_fuel_percent,
        route_deviation_km=settings.route_deviation_km,
    )
    return create_app(
        store, vehicles=VehicleRegistry.load(settings.vehicles_file), thresholds=thresholds
    )


app = from_settings(FleetSettings())


def app_for(settings: Settings) -> App:
    """The App on shared servers (``tidal dev --kafka``): readings and alerts in that run's Redis
    (``settings.idempotency.redis_url``), the rest from ``FLEET_*``."""
    return from_settings(FleetSettings(redis_url=settings.idempotency.redis_url))
