"""The gateway against hostile or broken senders (issue 17, finding 6): a malformed signature is
401, never a 500, and a signed webhook replayed within its window is published once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from services.gateway.api import create_gateway
from services.gateway.auth import sign
from services.gateway.replays import close_replays
from services.gateway.settings import GatewaySettings
from tests.services.conftest import PAYMENT_SECRET, POS_SECRET, sample
from tests.services.test_gateway_api import (
    JSON,
    NOW,
    Recorder,
    assert_refused,
    payment_headers,
    pos_headers,
)

NON_ASCII = ["v1=é", "v1=" + "é" * 64, "t=1793700000,v1=ü" + "0" * 63]


@pytest.mark.parametrize("signature", NON_ASCII)
async def test_a_non_ascii_pos_signature_is_401(
    client: httpx.AsyncClient, recorder: Recorder, signature: str
) -> None:
    raw = json.dumps(sample("order")).encode()
    headers = {**pos_headers(raw), "x-acme-signature": signature.encode("latin-1")}
    response = await client.post("/webhooks/pos", content=raw, headers=headers)
    assert_refused(response, 401, "x-acme-signature")
    assert recorder.events == []


@pytest.mark.parametrize("signature", NON_ASCII)
async def test_a_non_ascii_payment_signature_is_401(
    client: httpx.AsyncClient, signature: str
) -> None:
    raw = json.dumps(sample("checkout_webhook")).encode()
    stamped = signature if signature.startswith("t=") else f"t={int(NOW)},{signature}"
    headers = {**JSON, "stripe-signature": stamped.encode("latin-1")}
    response = await client.post("/webhooks/payments", content=raw, headers=headers)
    assert_refused(response, 401, "stripe-signature")


async def test_a_replayed_pos_webhook_is_published_once_and_answered_alike(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    raw = json.dumps(sample("order")).encode()
    headers = pos_headers(raw)
    first = await client.post("/webhooks/pos", content=raw, headers=headers)
    replayed = await client.post("/webhooks/pos", content=raw, headers=headers)
    assert (first.status_code, replayed.status_code) == (202, 202)
    assert replayed.json() == first.json()
    assert len(recorder.events) == 1
    resigned = await client.post("/webhooks/pos", content=raw, headers=pos_headers(raw, at=NOW - 1))
    assert resigned.status_code == 202  # a new signature (a provider's retry): published again
    assert len(recorder.events) == 2


async def test_a_webhook_whose_publishing_failed_goes_through_when_sent_again(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    raw = json.dumps(sample("checkout_webhook")).encode()
    headers = payment_headers(raw)
    recorder.failing = True
    assert (
        await client.post("/webhooks/payments", content=raw, headers=headers)
    ).status_code == 503
    recorder.failing = False
    assert (
        await client.post("/webhooks/payments", content=raw, headers=headers)
    ).status_code == 202
    assert (
        await client.post("/webhooks/payments", content=raw, headers=headers)
    ).status_code == 202
    assert len(recorder.events) == 1


async def test_replicas_sharing_redis_publish_a_replayed_webhook_once(redis_url: str) -> None:
    """Two gateway replicas, the same signed request to each at once and again: one event."""
    settings = GatewaySettings(
        pos_secrets=[SecretStr(POS_SECRET)],
        payment_secrets=[SecretStr(PAYMENT_SECRET)],
        redis_url=SecretStr(redis_url),
    )
    order = {**sample("order"), "orderId": f"ord-{uuid.uuid4().hex[:8]}"}
    raw = json.dumps(order).encode()
    ts = int(NOW)
    headers = {
        **JSON,
        "x-acme-timestamp": str(ts),
        "x-acme-signature": f"v1={sign(POS_SECRET, ts, raw)}",
    }
    recorder = Recorder()
    async with _replica(recorder, settings) as one, _replica(recorder, settings) as two:
        sent = [c.post("/webhooks/pos", content=raw, headers=headers) for c in (one, two) * 3]
        statuses = sorted(r.status_code for r in await asyncio.gather(*sent))
    assert len(recorder.events) == 1
    assert statuses == [202] * 6  # the twins waited for the first and were answered alike


class _replica:
    def __init__(self, recorder: Recorder, settings: GatewaySettings) -> None:
        self.app = create_gateway(recorder, settings, clock=lambda: NOW, metrics=False)
        transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://g")

    async def __aenter__(self) -> httpx.AsyncClient:
        return await self.http.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.__aexit__(*exc)
        await close_replays(self.app.state.replays)  # what the lifespan does on shutdown


@pytest.fixture
async def client(
    recorder: Recorder, gateway_settings: GatewaySettings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_gateway(recorder, gateway_settings, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
