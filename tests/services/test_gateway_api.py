"""The gateway over httpx's ASGI transport: what it publishes, and every status it refuses with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from services.gateway.api import create_gateway
from services.gateway.auth import sign
from services.gateway.settings import GatewaySettings
from tests.services.conftest import PAYMENT_SECRET, POS_SECRET, TOKEN, sample

from tidal import Event
from tidal.testing import MemoryBroker

NOW = 1_793_700_000.0
BEARER = {"authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}


class Recorder:
    """A publisher that keeps what it is given, or fails when told to."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.failing = False

    async def publish_many(self, events: Sequence[Event]) -> None:
        if self.failing:
            raise ConnectionError("broker unreachable")
        self.events.extend(events)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(
    recorder: Recorder, gateway_settings: GatewaySettings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_gateway(recorder, gateway_settings, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def pos_headers(raw: bytes, *, secret: str = POS_SECRET, at: float = NOW) -> dict[str, str]:
    ts = int(at)
    return {**JSON, "x-acme-timestamp": str(ts), "x-acme-signature": f"v1={sign(secret, ts, raw)}"}


def payment_headers(raw: bytes, *, secret: str = PAYMENT_SECRET, at: float = NOW) -> dict[str, str]:
    ts = int(at)
    return {**JSON, "stripe-signature": f"t={ts},v1={sign(secret, ts, raw)}"}


def binary_headers(**attributes: str) -> dict[str, str]:
    ce = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/vehicles",
        "type": "com.acme.fleet.telemetry.v1",
    }
    ce.update(attributes)
    return {**BEARER, **JSON, **{f"ce-{k}": v for k, v in ce.items()}}


def structured(event_id: str, data: Any, **attributes: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/vehicles",
        "type": "com.acme.fleet.telemetry.v1",
        "data": data,
        **attributes,
    }


def assert_refused(response: httpx.Response, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field, answer
    assert answer["message"]


# -- accepted ------------------------------------------------------------------------------


async def test_a_plain_reading_is_published_as_a_cloudevent_and_answered_202_with_its_id(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await client.post(
        "/telemetry", content=body(sample("reading")), headers={**BEARER, **JSON}
    )
    assert response.status_code == 202
    assert response.json() == {"id": "msg-sample-0001", "ids": ["msg-sample-0001"]}
    [event] = recorder.events
    assert (event.type, event.source, event.id) == (
        "com.acme.fleet.telemetry.v1",
        "com.acme.fleet.telematics",
        "msg-sample-0001",
    )
    assert event.partitionkey == "VH-1001"
    assert event.time is not None
    assert event.time.isoformat() == "2026-11-02T10:15:00+00:00"
    assert event.data == sample("reading")


async def test_cloudevents_are_accepted_in_binary_structured_and_batched_mode(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    reading = sample("reading")
    binary = await client.post("/events", content=body(reading), headers=binary_headers())
    one = await client.post(
        "/events",
        content=body(structured("e-2", reading)),
        headers={**BEARER, "content-type": "application/cloudevents+json"},
    )
    batch = await client.post(
        "/events",
        content=body([structured("e-3", reading), structured("e-4", reading, partitionkey="k")]),
        headers={**BEARER, "content-type": "application/cloudevents-batch+json"},
    )
    assert [r.status_code for r in (binary, one, batch)] == [202, 202, 202]
    assert batch.json() == {"id": "e-3", "ids": ["e-3", "e-4"]}
    assert [e.id for e in recorder.events] == ["e-1", "e-2", "e-3", "e-4"]
    assert [e.partitionkey for e in recorder.events] == ["VH-1001", "VH-1001", "VH-1001", "k"]


async def test_a_signed_pos_webhook_becomes_order_confirmed(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    raw = body(sample("order"))
    response = await client.post("/webhooks/pos", content=raw, headers=pos_headers(raw))
    assert response.status_code == 202
    assert response.json()["id"] == "ord-sample-0001"
    [event] = recorder.events
    assert (event.type, event.source) == (
        "com.acme.pos.order.confirmed.v1",
        "com.acme.pos.transaction",
    )
    assert event.partitionkey == "cust-0007"


async def test_a_signed_checkout_webhook_becomes_checkout_completed(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    raw = body(sample("checkout_webhook"))
    response = await client.post("/webhooks/payments", content=raw, headers=payment_headers(raw))
    assert response.status_code == 202
    assert response.json() == {"id": "evt_sample0001", "ids": ["evt_sample0001"]}
    [event] = recorder.events
    assert event.type == "com.acme.payments.checkout.completed.v1"
    assert event.data == {
        "sessionId": "cs_sample0001",
        "orderId": "ord-sample-0001",
        "amountTotal": 4699,
        "currency": "EUR",
        "paymentStatus": "paid",
        "created": "2026-11-03T10:00:00Z",
    }


async def test_other_payment_webhooks_are_acknowledged_but_not_published(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    raw = body({**sample("checkout_webhook"), "type": "payment_intent.created"})
    response = await client.post("/webhooks/payments", content=raw, headers=payment_headers(raw))
    assert response.status_code == 202
    assert response.json()["ignored"] is True
    assert recorder.events == []


async def test_a_rotated_secret_and_a_timestamp_within_tolerance_are_accepted(
    client: httpx.AsyncClient, gateway_settings: GatewaySettings, recorder: Recorder
) -> None:
    raw = body(sample("order"))
    headers = pos_headers(raw, at=NOW - 299)
    assert (await client.post("/webhooks/pos", content=raw, headers=headers)).status_code == 202


async def test_a_batch_just_under_256_kib_is_accepted(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    events, size = [], 2
    while True:
        item = structured(f"e-{len(events)}", sample("reading"))
        step = len(body(item)) + 2
        if size + step > 256 * 1024:
            break
        events.append(item)
        size += step
    response = await client.post(
        "/events",
        content=body(events),
        headers={**BEARER, "content-type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 202
    assert len(recorder.events) == len(events) > 500


# -- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer ", "Basic dGVzdA==", "Bearer wrong-token", f"Token {TOKEN}"]
)
async def test_a_missing_or_wrong_bearer_token_is_401(
    client: httpx.AsyncClient, recorder: Recorder, authorization: str | None
) -> None:
    headers = {**JSON, **({"authorization": authorization} if authorization else {})}
    response = await client.post("/telemetry", content=body(sample("reading")), headers=headers)
    assert_refused(response, 401, "authorization")
    assert recorder.events == []


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        (lambda raw: JSON, "x-acme-signature"),
        (lambda raw: pos_headers(raw, secret="guess"), "x-acme-signature"),
        (lambda raw: pos_headers(raw, at=NOW - 301), "x-acme-timestamp"),
        (lambda raw: pos_headers(raw, at=NOW + 301), "x-acme-timestamp"),
        (lambda raw: {**pos_headers(raw), "x-acme-timestamp": "soon"}, "x-acme-timestamp"),
        (
            lambda raw: {**pos_headers(raw), "x-acme-timestamp": "²".encode("latin-1")},
            "x-acme-timestamp",
        ),
        (lambda raw: pos_headers(raw + b" "), "x-acme-signature"),
    ],
)
async def test_a_pos_webhook_without_a_valid_fresh_signature_is_401(
    client: httpx.AsyncClient, recorder: Recorder, headers: Any, field: str
) -> None:
    raw = body(sample("order"))
    response = await client.post("/webhooks/pos", content=raw, headers=headers(raw))
    assert_refused(response, 401, field)
    assert recorder.events == []


@pytest.mark.parametrize(
    "signature",
    ["", "v1=abc", "t=1793700000", f"t={int(NOW) - 400},v1=00", "garbage"],
)
async def test_a_payment_webhook_without_a_valid_signature_is_401(
    client: httpx.AsyncClient, signature: str
) -> None:
    raw = body(sample("checkout_webhook"))
    headers = {**JSON, "stripe-signature": signature} if signature else JSON
    response = await client.post("/webhooks/payments", content=raw, headers=headers)
    assert_refused(response, 401, "stripe-signature")


async def test_a_body_over_256_kib_is_413_whether_declared_or_streamed(
    client: httpx.AsyncClient,
) -> None:
    big = b"[" + b"1," * (140 * 1024) + b"1]"
    declared = await client.post("/telemetry", content=big, headers={**BEARER, **JSON})
    assert_refused(declared, 413, "body")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 8192

    streamed = await client.post("/telemetry", content=chunks(), headers={**BEARER, **JSON})
    assert_refused(streamed, 413, "body")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/telemetry", "text/plain"),
        ("/telemetry", None),
        ("/events", "application/xml"),
        ("/events", "application/cloudevents+avro"),
        ("/webhooks/pos", "application/x-www-form-urlencoded"),
    ],
)
async def test_an_unsupported_media_type_is_415(
    client: httpx.AsyncClient, path: str, content_type: str | None
) -> None:
    headers = {**BEARER, **({"content-type": content_type} if content_type else {})}
    response = await client.post(path, content=b"{}", headers=headers)
    assert_refused(response, 415, "content-type")


@pytest.mark.parametrize(
    ("path", "content", "headers"),
    [
        ("/telemetry", b"{not json", {**BEARER, **JSON}),
        ("/telemetry", b'{"vehicleId": NaN}', {**BEARER, **JSON}),
        ("/telemetry", b"\xff\xfe", {**BEARER, **JSON}),
        ("/telemetry", b"[" * 50_000 + b"]" * 50_000, {**BEARER, **JSON}),
        ("/events", b"{}", {**BEARER, **JSON}),  # application/json but no ce-* headers
        ("/events", body(sample("reading")), binary_headers(time="yesterday")),
        ("/events", body({**sample("reading"), "x": float("nan")}), binary_headers()),
        (
            "/events",
            b'{"specversion": "1.0"}',
            {**BEARER, "content-type": "application/cloudevents+json"},
        ),
        ("/events", b"[]", {**BEARER, "content-type": "application/cloudevents-batch+json"}),
        ("/events", b'{"a": 1}', {**BEARER, "content-type": "application/cloudevents-batch+json"}),
    ],
)
async def test_a_malformed_request_is_400(
    client: httpx.AsyncClient,
    recorder: Recorder,
    path: str,
    content: bytes,
    headers: dict[str, str],
) -> None:
    response = await client.post(path, content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed"
    assert recorder.events == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["metrics"].update(speedKph=-4), "metrics.speedKph"),
        (lambda d: d["coordinates"].update(lat=91), "coordinates.lat"),
        (lambda d: d.pop("timestamp"), "timestamp"),
        (lambda d: d.update(timestamp="2026-11-02 10:15"), "timestamp"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["engineTemperature"].update(unit="kelvin"), "engineTemperature.unit"),
    ],
)
async def test_an_off_schema_reading_is_422_naming_the_field(
    client: httpx.AsyncClient, change: Any, field: str
) -> None:
    reading = sample("reading")
    reading = {k: dict(v) if isinstance(v, dict) else v for k, v in reading.items()}
    change(reading)
    response = await client.post("/telemetry", content=body(reading), headers={**BEARER, **JSON})
    assert_refused(response, 422, field)
    assert field in response.json()["message"]


async def test_off_schema_cloudevents_are_422_naming_the_event_and_field(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    good, bad = sample("reading"), {**sample("reading"), "messageId": ""}
    batch = await client.post(
        "/events",
        content=body([structured("e-1", good), structured("e-2", bad)]),
        headers={**BEARER, "content-type": "application/cloudevents-batch+json"},
    )
    assert_refused(batch, 422, "[1].data.messageId")
    unknown = await client.post(
        "/events", content=body(good), headers=binary_headers(type="com.acme.nope.v1")
    )
    assert_refused(unknown, 422, "type")
    internal = await client.post(
        "/events",
        content=body(good),
        headers=binary_headers(type="com.acme.fleet.alert.low-fuel.v1"),
    )
    assert_refused(internal, 422, "type")
    assert recorder.events == []  # a batch is published whole or not at all


async def test_a_pos_order_off_schema_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    order = sample("order")
    order["items"][1]["qty"] = 0
    raw = body(order)
    response = await client.post("/webhooks/pos", content=raw, headers=pos_headers(raw))
    assert_refused(response, 422, "items[1].qty")


async def test_a_checkout_webhook_without_an_order_id_is_422(client: httpx.AsyncClient) -> None:
    webhook = sample("checkout_webhook")
    del webhook["data"]["object"]["metadata"]["orderId"]
    raw = body(webhook)
    response = await client.post("/webhooks/payments", content=raw, headers=payment_headers(raw))
    assert_refused(response, 422, "data.object.metadata.orderId")


async def test_a_broker_that_does_not_take_the_events_is_503_with_retry_after(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    recorder.failing = True
    response = await client.post(
        "/telemetry", content=body(sample("reading")), headers={**BEARER, **JSON}
    )
    assert_refused(response, 503, None)
    assert response.headers["retry-after"] == "1"


async def test_the_memory_broker_is_a_publisher(gateway_settings: GatewaySettings) -> None:
    broker = MemoryBroker([])
    app = create_gateway(broker, gateway_settings, clock=lambda: NOW)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://g"
    ) as http:
        response = await http.post(
            "/telemetry", content=body(sample("reading")), headers={**BEARER, **JSON}
        )
    assert response.status_code == 202
    assert [e.id for e in broker.published] == ["msg-sample-0001"]


async def test_the_openapi_document_describes_every_route_and_its_security(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert set(document["paths"]) == {
        "/events",
        "/telemetry",
        "/webhooks/pos",
        "/webhooks/payments",
        "/orders/{order_id}/timeline",
    }
    telemetry = document["paths"]["/telemetry"]["post"]
    assert telemetry["security"] == [{"bearerAuth": []}]
    schema = telemetry["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"][0] == "vehicleId"
    assert set(telemetry["responses"]) == {"202", "400", "401", "413", "415", "422", "503"}
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
