"""The gateway's ``/readyz`` names the broker it cannot reach, as ``tidal run``'s does.

A real tansu broker (`tests.support.restartable.durable_tansu`: its topics kept in the session's
moto S3, so it restarts with them) is stopped under a gateway publishing to it with
``GATEWAY_TRANSPORT=kafka``: the next request is answered 503 and ``/readyz`` turns 503
``dependency_unavailable`` naming ``kafka`` (``tidal_dependency_up`` 0 on ``/metrics``). Once
the broker is started again ``/readyz`` finds it back by itself, with no request in between (a
pod that is not ready gets none), and the gateway publishes again. With
``GATEWAY_TRANSPORT=http`` the same holds for ``K_SINK``: ``/readyz`` names ``sink`` until a
sink listens there.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from tests.services.conftest import TOKEN, sample
from tests.support.kafka import create_topic, eventually, read_topic, unique
from tests.support.objectstore import S3Server
from tests.support.restartable import bootstrap, durable_tansu
from tests.support.servers import free_port

from tidal import Settings, open_publisher
from tidal._settings import KafkaSettings

pytestmark = pytest.mark.integration

BEARER = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


def kafka_up(metrics: str) -> float | None:
    wanted = {"service": "gateway", "dependency": "kafka"}
    for family in text_string_to_metric_families(metrics):
        for sample_ in family.samples:
            if sample_.name == "tidal_dependency_up" and sample_.labels == wanted:
                return sample_.value
    return None


def reading(n: int) -> dict[str, Any]:
    body = sample("reading")
    body["messageId"] = f"ready-{n}"
    return body


async def test_readyz_names_kafka_while_the_broker_is_stopped_and_finds_it_back(
    s3_endpoint: str, gateway_settings: GatewaySettings
) -> None:
    with durable_tansu(S3Server(s3_endpoint, "us-east-1")) as broker:
        address = bootstrap(broker)
        topic = unique("gateway-ready")
        await create_topic(address, topic, partitions=1)
        kafka = KafkaSettings(
            bootstrap_servers=address,
            emit_topic=topic,
            idempotent_producer=False,  # tansu has no InitProducerId
            request_timeout_ms=2000,
        )
        async with open_publisher(Settings(kafka=kafka), transport="kafka") as publisher:
            transport = httpx.ASGITransport(app=create_gateway(publisher, gateway_settings))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                before = await http.get("/readyz")
                first = await http.post("/telemetry", headers=BEARER, json=reading(1))
                broker.kill()
                refused = await http.post("/telemetry", headers=BEARER, json=reading(2))
                not_ready = await http.get("/readyz")
                metrics_down = (await http.get("/metrics")).text
                broker.start()

                async def ready() -> bool:
                    return "kafka" not in (await http.get("/readyz")).json().get("down", {})

                await eventually(ready, within=30, what="/readyz finding the broker back")
                metrics_up = (await http.get("/metrics")).text
                again = await http.post("/telemetry", headers=BEARER, json=reading(3))
        landed = await read_topic(address, topic, count=2)
    assert before.status_code == 200, before.json()
    assert first.status_code == again.status_code == 202
    assert refused.status_code == 503
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "dependency_unavailable"
    assert f"to {topic} failed" in not_ready.json()["down"]["kafka"]
    assert kafka_up(metrics_down) == 0
    assert kafka_up(metrics_up) == 1
    assert [dict(r.headers)["ce_id"] for r in landed] == [b"ready-1", b"ready-3"]


async def test_readyz_names_the_sink_while_nothing_listens_at_k_sink(
    gateway_settings: GatewaySettings,
) -> None:
    port, received = free_port(), []  # nothing listens there until the sink starts

    async def accept(request: web.Request) -> web.Response:
        received.append(request.headers["ce-id"])
        return web.Response(status=202)

    settings = Settings(sink=f"http://127.0.0.1:{port}/")
    async with open_publisher(settings, transport="http") as publisher:
        transport = httpx.ASGITransport(app=create_gateway(publisher, gateway_settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            refused = await http.post("/telemetry", headers=BEARER, json=reading(1))
            not_ready = await http.get("/readyz")
            sink = web.Application()
            sink.router.add_post("/", accept)
            runner = web.AppRunner(sink)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                ready = await http.get("/readyz")
                accepted = await http.post("/telemetry", headers=BEARER, json=reading(2))
            finally:
                await runner.cleanup()
    assert refused.status_code == 503
    assert not_ready.status_code == 503
    assert f"127.0.0.1:{port}" in not_ready.json()["down"]["sink"]
    assert "sink" not in ready.json().get("down", {})
    assert accepted.status_code == 202
    assert received == ["ready-2"]
