"""``GET /orders/{order_id}/timeline`` (issue 21 item 3): the saga App runs on the memory
broker over a `RedisSagaStore` in the session's redis-server, and the gateway, configured with
the same Redis and key prefix, answers each order's state and timeline. Also: 401 without a
valid token, 404 for an unknown order or an odd id, 404 ``timeline_disabled`` when no Redis
is set, 503 when Redis goes away behind a TCP proxy; never a 500. And the saga store's own key
bug this found: an order id ending in ``:timeline`` named another order's timeline list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from services.saga.app import ORDER_CANCELLED, ORDER_COMPLETED, create_app
from services.saga.payments import RedisLedger, SimulatedProvider
from services.saga.settings import SagaSettings
from services.saga.stores import RedisSagaStore
from tests.services.conftest import TOKEN
from tests.services.test_gateway_api import Recorder
from tests.services.test_saga_service import order
from tests.support.kafka import TcpProxy

from tidal import DeliveryPolicy
from tidal.testing import ManualClock, MemoryBroker

BEARER = {"authorization": f"Bearer {TOKEN}"}


def gateway(settings: GatewaySettings, url: str | None, prefix: str) -> httpx.AsyncClient:
    saga_url = None if url is None else SecretStr(url)
    configured = settings.model_copy(update={"saga_redis_url": saga_url, "saga_key_prefix": prefix})
    app = create_gateway(Recorder(), configured)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
async def store(redis_client: aioredis.Redis, prefix: str) -> RedisSagaStore:
    store = RedisSagaStore(redis_client, prefix=prefix)
    await store.seed_stock({"MUG": 10})
    return store


@pytest.fixture
async def saga(store: RedisSagaStore, prefix: str, clock: ManualClock) -> MemoryBroker:
    ledger = RedisLedger(store.redis, prefix=f"{prefix}:payments")
    app = create_app(
        store,
        SimulatedProvider(ledger, hang=3600),
        settings=SagaSettings(),
        policy=DeliveryPolicy.of(max_attempts=2, delay="PT1S", timeout="PT1S"),
    )
    return MemoryBroker(app, clock=clock)


@pytest.fixture
async def client(
    gateway_settings: GatewaySettings, redis_url: str, prefix: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(gateway_settings, redis_url, prefix) as http:
        yield http


async def test_an_orders_saga_is_read_back_as_its_state_and_timeline(
    saga: MemoryBroker, store: RedisSagaStore, client: httpx.AsyncClient
) -> None:
    await saga.send(order("o-paid", "tok_visa"))
    await saga.send(order("o-declined", "tok_chargeDeclined"))
    assert {e.type for e in saga.published} >= {ORDER_COMPLETED, ORDER_CANCELLED}
    state, timeline = await store.history("o-paid")
    assert (state, timeline) == (await store.state("o-paid"), await store.timeline("o-paid"))

    paid = await client.get("/orders/o-paid/timeline", headers=BEARER)
    assert paid.status_code == 200
    body: dict[str, Any] = paid.json()
    assert (body["orderId"], body["status"]) == ("o-paid", "completed")
    assert body["state"]["payment"] == "accepted"
    steps = [(e["step"], e["status"]) for e in body["timeline"]]
    assert steps == [
        ("order", "placed"),
        ("inventory", "reserved"),
        ("payment", "pending"),
        ("payment", "accepted"),
        ("shipping", "pending"),
        ("shipping", "scheduled"),
        ("order", "completed"),
    ]
    assert all(e["at"].endswith("Z") for e in body["timeline"])

    declined = (await client.get("/orders/o-declined/timeline", headers=BEARER)).json()
    assert declined["status"] == "cancelled"
    assert declined["state"]["reason"] == "payment_refused"
    assert declined["state"]["undone"] == "inventory.released"
    assert [(e["step"], e["status"]) for e in declined["timeline"]][-3:] == [
        ("payment", "refused"),
        ("inventory", "released"),
        ("order", "cancelled"),
    ]


async def test_an_order_id_ending_in_timeline_has_a_saga_of_its_own(
    saga: MemoryBroker, client: httpx.AsyncClient
) -> None:
    """Before, an order's timeline list was the key ``<order key>:timeline``: the order
    ``o-2:timeline`` (a valid orderId) shared it with o-2's, and the store failed WRONGTYPE."""
    await saga.send(order("o-2", "tok_visa"))
    await saga.send(order("o-2:timeline", "tok_visa"))
    for order_id in ("o-2", "o-2:timeline"):
        body = (await client.get(f"/orders/{order_id}/timeline", headers=BEARER)).json()
        assert body["status"] == "completed", body
        assert len(body["timeline"]) == 7


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong-token", "not-bearer"],
)
async def test_a_timeline_needs_a_valid_token(
    saga: MemoryBroker, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await saga.send(order("o-secret", "tok_visa"))
    answer = await client.get("/orders/o-secret/timeline", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert "o-secret" not in answer.text


@pytest.mark.parametrize(
    "order_id",
    ["o-nobody", "o-paid:timeline", "x" * 65, "%7Bsaga%7D"],
    ids=["unknown", "another-orders-timeline-key", "longer-than-any-order-id", "hash-tag"],
)
async def test_an_unknown_order_is_a_404_naming_it(
    saga: MemoryBroker, client: httpx.AsyncClient, order_id: str
) -> None:
    await saga.send(order("o-paid", "tok_visa"))  # o-paid:timeline was its timeline's key
    answer = await client.get(f"/orders/{order_id}/timeline", headers=BEARER)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert answer.json()["field"] == "order_id"
    assert "no saga for order" in answer.json()["message"]


@pytest.mark.parametrize(
    "order_id",
    ["ünïcode-☃", "a b", "%00", "%0Anl", "*", "-" * 64],
    ids=["unicode", "space", "nul", "newline", "glob", "dashes"],
)
async def test_odd_order_ids_are_404s_never_server_errors(
    client: httpx.AsyncClient, order_id: str
) -> None:
    answer = await client.get(f"/orders/{order_id}/timeline", headers=BEARER)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found"


async def test_without_the_sagas_redis_the_route_says_how_to_enable_it(
    gateway_settings: GatewaySettings,
) -> None:
    async with gateway(gateway_settings, None, "saga") as http:
        assert (await http.get("/orders/o-1/timeline")).status_code == 401
        answer = await http.get("/orders/o-1/timeline", headers=BEARER)
    assert answer.status_code == 404
    assert answer.json()["error"] == "timeline_disabled"
    assert "GATEWAY_SAGA_REDIS_URL" in answer.json()["message"]


async def test_redis_going_away_is_a_503_then_it_answers_again(
    saga: MemoryBroker, gateway_settings: GatewaySettings, prefix: str, redis_url: str
) -> None:
    await saga.send(order("o-1", "tok_visa"))
    port = urlsplit(redis_url).port
    assert port is not None
    proxy = TcpProxy(target_port=port).start()
    async with gateway(gateway_settings, f"redis://127.0.0.1:{proxy.port}/0", prefix) as http:
        try:
            assert (await http.get("/orders/o-1/timeline", headers=BEARER)).status_code == 200
        finally:
            proxy.stop()  # connections cut and the port closed: Redis is unreachable
        answer = await http.get("/orders/o-1/timeline", headers=BEARER)
        assert answer.status_code == 503
        assert answer.json()["error"] == "dependency_unavailable"
        assert answer.headers["retry-after"] == "1"
        assert "redis://" not in answer.text  # the URL (and any password in it) stays private
        again = TcpProxy(target_port=proxy.target_port, port=proxy.port).start()
        try:
            assert (await http.get("/orders/o-1/timeline", headers=BEARER)).status_code == 200
        finally:
            again.stop()


def test_the_route_is_in_the_openapi_document_with_its_errors(
    gateway_settings: GatewaySettings,
) -> None:
    app = create_gateway(Recorder(), gateway_settings)
    operation = app.openapi()["paths"]["/orders/{order_id}/timeline"]["get"]
    assert set(operation["responses"]) == {"200", "401", "404", "422", "503"}
    assert operation["security"] == [{"bearerAuth": []}]
