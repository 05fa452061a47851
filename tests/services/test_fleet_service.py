"""The fleet service on the memory transport, with its state in a real redis-server."""

from __future__ import annotations

from typing import Any

import pytest
from services.fleet.alerting import LOW_FUEL, OVERHEATING, ROUTE_DEVIATION, Thresholds
from services.fleet.app import TELEMETRY, FleetMetrics, create_app
from services.fleet.geometry import distance_to_route_km, haversine_km
from services.fleet.stores import FleetStore, MemoryFleetStore, RedisFleetStore
from services.fleet.vehicles import VehicleRegistry
from tests.services.conftest import sample

from tidal import Event, RetryableError
from tidal.testing import ManualClock, MemoryBroker, MemoryIdempotencyStore, make_event

VEHICLES = VehicleRegistry.load()
ALERT_TYPES = (OVERHEATING, LOW_FUEL, ROUTE_DEVIATION)


def reading_event(**changes: Any) -> Event:
    data = sample("reading")
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return make_event(
        TELEMETRY, source="com.acme.fleet.telematics", id=data["messageId"], data=data
    )


def broker_for(store: FleetStore, clock: ManualClock, **options: Any) -> MemoryBroker:
    return MemoryBroker(  # no idempotency records: tests that want them pass their own
        create_app(store, vehicles=VEHICLES, **options), clock=clock, idempotency=False
    )


def alerts(broker: MemoryBroker) -> list[Event]:
    return [e for e in broker.published if e.type in ALERT_TYPES]


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest, fleet_store: RedisFleetStore) -> FleetStore:
    return fleet_store if request.param == "redis" else MemoryFleetStore()


async def test_a_reading_is_stored_once_enriched_with_processed_at_and_vehicle_data(
    store: FleetStore, clock: ManualClock
) -> None:
    metrics = FleetMetrics()
    broker = broker_for(store, clock, metrics=metrics)
    await broker.publish(reading_event())
    await broker.drain()  # concurrent copies would race to Redis: the first *stored* one wins
    await broker.publish(reading_event(messageId="msg-other-id"))  # same vehicle and time
    await broker.drain()
    stored = await store.readings("VH-1001")
    assert list(stored) == ["2026-11-02T10:15:00Z"]
    document = stored["2026-11-02T10:15:00Z"]
    assert document["messageId"] == "msg-sample-0001"  # the first copy wins
    assert document["processed_at"] == "2026-01-01T00:00:00Z"  # the dispatcher's clock
    assert document["vehicle"] == {
        "plate": "B-AC 1001",
        "model": "Mercedes eSprinter",
        "depot": "Berlin",
        "routeId": "R-BER-1",
    }
    assert metrics.telemetry_processed == 2
    assert alerts(broker) == []


async def test_an_overheating_reading_raises_one_alert_fanned_out_to_mechanic_and_maintenance(
    store: FleetStore, clock: ManualClock
) -> None:
    broker = broker_for(store, clock)
    await broker.publish(reading_event(engineTemperature={"value": 110.5, "unit": "C"}))
    await broker.drain()
    [alert] = alerts(broker)
    assert alert.type == OVERHEATING
    assert alert.data["threshold"] == {"value": 105.0, "unit": "C"}
    assert alert.data["location"] == {"lat": 52.5096, "lon": 13.376}
    assert alert.data["alertKey"] == "VH-1001/2026-11-02T10:15:00Z/overheating"
    [note] = await store.outbox("notifications")
    [job] = await store.outbox("maintenance")
    assert note["alertId"] == job["alertId"] == alert.id
    assert job["reason"] == "engine at 110.5 °C"


@pytest.mark.parametrize(
    ("value", "unit", "thresholds", "alerted"),
    [
        (220.0, "F", Thresholds(), False),  # 104.4 °C
        (222.0, "F", Thresholds(), True),  # 105.6 °C
        (105.0, "C", Thresholds(), False),  # "above" is strict
        (99.0, "C", Thresholds(overheat=210.0, overheat_unit="F"), True),  # 98.9 °C
        (98.5, "C", Thresholds(overheat=210.0, overheat_unit="F"), False),
    ],
)
async def test_temperatures_and_thresholds_are_compared_in_one_unit(
    clock: ManualClock, value: float, unit: str, thresholds: Thresholds, alerted: bool
) -> None:
    broker = broker_for(MemoryFleetStore(), clock, thresholds=thresholds)
    await broker.publish(reading_event(engineTemperature={"value": value, "unit": unit}))
    await broker.drain()
    assert [a.type for a in alerts(broker)] == ([OVERHEATING] if alerted else [])


@pytest.mark.parametrize(("fuel", "alerted"), [(14.9, True), (15.0, False), (0.0, True)])
async def test_low_fuel_alerts_below_15_percent(
    clock: ManualClock, fuel: float, alerted: bool
) -> None:
    broker = broker_for(MemoryFleetStore(), clock)
    await broker.publish(reading_event(metrics={"fuelPercentage": fuel}))
    await broker.drain()
    assert [a.type for a in alerts(broker)] == ([LOW_FUEL] if alerted else [])


async def test_a_reading_far_from_the_planned_route_raises_a_deviation(clock: ManualClock) -> None:
    broker = broker_for(MemoryFleetStore(), clock)
    await broker.publish(reading_event(coordinates={"lat": 52.5096, "lon": 13.376}))  # waypoint
    await broker.publish(  # ~3.3 km north of the route
        reading_event(
            messageId="m-off", timestamp="2026-11-02T10:16:00Z", coordinates={"lat": 52.54}
        )
    )
    await broker.drain()
    [alert] = alerts(broker)
    assert alert.type == ROUTE_DEVIATION
    assert alert.data["routeId"] == "R-BER-1"
    assert 2.0 < alert.data["deviationKm"] < 4.0
    assert alert.data["thresholdKm"] == 2.0


async def test_a_vehicle_without_a_route_never_deviates(clock: ManualClock) -> None:
    broker = broker_for(MemoryFleetStore(), clock)
    await broker.publish(reading_event(vehicleId="VH-1012", coordinates={"lat": 10.0}))
    await broker.drain()
    assert alerts(broker) == []


class FlakyStore:
    """Writes, then fails the first `times` calls of `record_once` as a lost reply would."""

    def __init__(self, inner: FleetStore, times: int) -> None:
        self.inner = inner
        self.times = times

    async def save_reading(self, vehicle_id: str, timestamp: str, document: Any) -> bool:
        return await self.inner.save_reading(vehicle_id, timestamp, document)

    async def record_once(self, outbox: str, key: str, document: Any) -> bool:
        done = await self.inner.record_once(outbox, key, document)
        if self.times > 0:
            self.times -= 1
            raise RetryableError("connection reset after the write")
        return done

    async def readings(self, vehicle_id: str) -> dict[str, dict[str, Any]]:
        return await self.inner.readings(vehicle_id)

    async def outbox(self, name: str) -> list[dict[str, Any]]:
        return await self.inner.outbox(name)


async def test_alerts_are_recorded_once_under_retries_and_redelivery(
    fleet_store: RedisFleetStore, clock: ManualClock
) -> None:
    flaky = FlakyStore(fleet_store, times=2)
    broker = broker_for(flaky, clock)  # no idempotency records: the stores alone must hold
    hot = reading_event(
        engineTemperature={"value": 120.0, "unit": "C"}, metrics={"fuelPercentage": 3.0}
    )
    await broker.publish(hot)
    await broker.drain()
    await broker.publish(hot)  # redelivered after its idempotency record expired
    await broker.drain()
    await broker.publish(  # the same reading re-sent under a new message id
        reading_event(
            messageId="msg-resent",
            engineTemperature={"value": 120.0, "unit": "C"},
            metrics={"fuelPercentage": 3.0},
        )
    )
    await broker.drain()
    assert broker.stats.get("notify", "retried") == 2
    notes = await fleet_store.outbox("notifications")
    assert sorted(n["type"] for n in notes) == sorted([OVERHEATING, LOW_FUEL])
    assert len(await fleet_store.outbox("maintenance")) == 1
    emitted = alerts(broker)
    first_ids = {e.id for e in emitted[:2]}
    assert {e.id for e in emitted[2:4]} == first_ids  # the redelivery re-derived the same ids


async def test_duplicates_are_absorbed_by_idempotency_before_the_handler(
    fleet_store: RedisFleetStore, clock: ManualClock
) -> None:
    metrics = FleetMetrics()
    app = create_app(fleet_store, vehicles=VEHICLES, metrics=metrics)
    broker = MemoryBroker(app, clock=clock, idempotency=_idempotency(clock))
    for _ in range(3):
        await broker.publish(reading_event())
    await broker.drain()
    assert metrics.telemetry_processed == 1
    assert broker.stats.get("telemetry", "duplicate") == 2


def _idempotency(clock: ManualClock) -> Any:
    from tidal._idempotency import Idempotency

    return Idempotency(MemoryIdempotencyStore(clock=clock), clock=clock)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (lambda: reading_event(vehicleId="VH-9999"), "data.vehicleId: unknown vehicle 'VH-9999'"),
        (lambda: reading_event(metrics={"speedKph": -3}), "data.metrics.speedKph"),
    ],
)
async def test_a_poison_reading_is_dead_lettered_at_once_with_its_reason(
    clock: ManualClock, event: Any, reason: str
) -> None:
    broker = broker_for(MemoryFleetStore(), clock)
    await broker.publish(event())
    await broker.drain()
    [letter] = broker.all_dead_letters()
    assert reason in letter.get_extension("tidalerrormessage")
    assert letter.get_extension("tidalattempts") == 1
    assert letter.get_extension("tidalsubscriber") == "fleet/telemetry"


def test_haversine_gives_the_known_distance_from_berlin_to_munich() -> None:
    assert haversine_km((52.5200, 13.4050), (48.1374, 11.5755)) == pytest.approx(504.4, abs=1.0)


def test_the_distance_to_a_route_is_measured_to_its_nearest_segment() -> None:
    route = [(52.50, 13.30), (52.50, 13.50)]
    assert distance_to_route_km((52.50, 13.40), route) == pytest.approx(0.0, abs=1e-6)
    north = distance_to_route_km((52.53, 13.40), route)
    assert north == pytest.approx(haversine_km((52.53, 13.40), (52.50, 13.40)), rel=1e-3)
    beyond = distance_to_route_km((52.50, 13.60), route)  # past the end: to the end point
    assert beyond == pytest.approx(haversine_km((52.50, 13.60), (52.50, 13.50)), rel=1e-6)
