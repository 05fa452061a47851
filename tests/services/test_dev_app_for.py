"""``tidal dev --kafka`` hands the demo services its settings (`app_for`) instead of writing their
variables: before, `tidal.cli._devkafka.configure_services` set ``FLEET_REDIS_URL`` and
``ORDERS_*`` in the environment (issue 19 item 6: the library knew its demo services)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from redis import asyncio as aioredis
from services.fleet.stores import RedisFleetStore
from services.saga.app import ORDER_COMPLETED
from services.saga.stores import RedisSagaStore
from tests.services.test_fleet_service import reading_event
from tests.services.test_saga_service import order

from tidal import App, Settings
from tidal._settings import IdempotencySettings
from tidal.cli._discovering import Service, discover, for_run
from tidal.testing import ManualClock, MemoryBroker

ROOT = Path(__file__).resolve().parents[2]


def test_tidal_no_longer_sets_the_services_variables() -> None:
    import tidal.cli._devkafka as devkafka

    assert not hasattr(devkafka, "configure_services")
    source = "".join(p.read_text() for p in (ROOT / "src" / "tidal").rglob("*.py"))
    assert "FLEET_" not in source
    assert "ORDERS_" not in source


def test_a_service_without_app_for_keeps_its_app() -> None:
    app = App("plain")
    assert for_run([Service(name="plain", app=app)], Settings()) == [Service(name="plain", app=app)]


async def test_the_fleet_app_for_a_run_keeps_its_readings_in_that_runs_redis(
    redis_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEET_REDIS_URL", raising=False)
    opened: list[RedisFleetStore] = []
    from_url = RedisFleetStore.from_url

    def recorded(*args: Any, **kwargs: Any) -> RedisFleetStore:
        opened.append(from_url(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(RedisFleetStore, "from_url", recorded)  # to close what the App opens
    services = {s.name: s for s in discover(ROOT / "services")}
    assert services["fleet"].app_for is not None
    assert services["orders"].app_for is not None
    idempotency = IdempotencySettings(backend="redis", redis_url=SecretStr(redis_url))
    run = {s.name: s for s in for_run(list(services.values()), Settings(idempotency=idempotency))}
    assert run["fleet"].app is not services["fleet"].app
    assert "FLEET_REDIS_URL" not in os.environ
    broker = MemoryBroker(run["fleet"].app, clock=clock, idempotency=False)
    await broker.publish(reading_event())
    await broker.drain()
    client = aioredis.from_url(redis_url)
    try:
        stored = await RedisFleetStore(client, prefix="fleet").readings("VH-1001")
    finally:
        await client.aclose()
        for store in opened:
            await store.close()
    assert list(stored) == ["2026-11-02T10:15:00Z"]


async def test_the_saga_app_for_a_run_keeps_its_orders_and_stock_in_that_runs_redis(
    redis_url: str, clock: ManualClock, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAGA_REDIS_URL", raising=False)
    monkeypatch.setenv("SAGA_KEY_PREFIX", prefix)  # the rest from SAGA_*: keys of this test's own
    opened: list[RedisSagaStore] = []
    from_url = RedisSagaStore.from_url

    def recorded(*args: Any, **kwargs: Any) -> RedisSagaStore:
        opened.append(from_url(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(RedisSagaStore, "from_url", recorded)  # to close what the App opens
    [saga] = [s for s in discover(ROOT / "services") if s.name == "saga"]
    idempotency = IdempotencySettings(backend="redis", redis_url=SecretStr(redis_url))
    [run] = for_run([saga], Settings(idempotency=idempotency))
    assert run.app is not saga.app
    assert "SAGA_REDIS_URL" not in os.environ
    broker = MemoryBroker(run.app, clock=clock, idempotency=False)
    await broker.publish(order("o-dev", "tok_visa", sku="MUG-BLUE", quantity=2))
    await broker.drain()
    client = aioredis.from_url(redis_url)
    try:
        store = RedisSagaStore(client, prefix=prefix)
        state, stock = await store.state("o-dev"), await store.stock("MUG-BLUE")
    finally:
        await client.aclose()
        for opened_store in opened:
            await opened_store.aclose()
    assert [e.type for e in broker.published if e.type == ORDER_COMPLETED] == [ORDER_COMPLETED]
    assert state["order"] == "completed"
    assert stock == 100_000 - 2  # seeded from products.json where missing, then reserved
