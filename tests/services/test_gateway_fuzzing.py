"""Schemathesis against the gateway's own OpenAPI document: generated requests, valid and not,
signed or not, never get a 5xx."""

from __future__ import annotations

import json
import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from services.gateway.api import create_gateway
from services.gateway.auth import sign
from services.gateway.settings import GatewaySettings
from tests.services.conftest import PAYMENT_SECRET, POS_SECRET, TOKEN

from tidal._publishing import DiscardingPublisher

GATEWAY = create_gateway(
    DiscardingPublisher(),
    GatewaySettings(
        tokens=[SecretStr(TOKEN)],
        pos_secrets=[SecretStr(POS_SECRET)],
        payment_secrets=[SecretStr(PAYMENT_SECRET)],
    ),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", GATEWAY)


def signed(case: Any) -> dict[str, str]:
    """Headers that authenticate the case as a well-behaved client would."""
    path = case.operation.path
    if path in ("/events", "/telemetry", "/orders/{order_id}/timeline"):
        return {"authorization": f"Bearer {TOKEN}"}
    raw = _as_sent(case.body)
    now = int(time.time())
    if path == "/webhooks/pos":
        return {
            "x-acme-timestamp": str(now),
            "x-acme-signature": f"v1={sign(POS_SECRET, now, raw)}",
        }
    return {"stripe-signature": f"t={now},v1={sign(PAYMENT_SECRET, now, raw)}"}


def _as_sent(body: Any) -> bytes:
    """The bytes the transport sends for a generated body (requests' JSON encoding)."""
    if body is None:
        return b"null"
    if isinstance(body, dict | list | str | int | float | bool):
        return json.dumps(body).encode()
    return b""  # no body generated


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_generated_requests_never_get_a_server_error(case: Any) -> None:
    response = case.call(headers=signed(case))
    assert response.status_code < 500, (response.status_code, response.text)
    unsigned = case.call()
    assert unsigned.status_code < 500, (unsigned.status_code, unsigned.text)
