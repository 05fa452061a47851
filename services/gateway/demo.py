"""What `tidal dev` runs the gateway with: demo credentials and a stream of demo requests.

`ingress` builds the gateway over the dev broker with the credentials below (for local use
only: production takes its secrets from ``GATEWAY_*``); `requests` is the traffic `tidal dev`
posts through it in process.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from services.gateway.traffic import Credentials, Traffic
from tidal import Publisher

DEMO: Final = Credentials(
    token="dev-token", pos_secret="dev-pos-secret", payment_secret="whsec_dev"
)


def settings() -> GatewaySettings:
    return GatewaySettings(
        tokens=[SecretStr(DEMO.token)],
        pos_secrets=[SecretStr(DEMO.pos_secret)],
        payment_secrets=[SecretStr(DEMO.payment_secret)],
    )


def ingress(publisher: Publisher) -> FastAPI:
    """The gateway as `tidal dev` runs it: over ``publisher``, with the demo credentials."""
    return create_gateway(publisher, settings())


def requests(rng: random.Random) -> Iterator[httpx.Request]:
    """Endless demo traffic: ~5 % duplicates, ~1 % poison events, ~1 % client mistakes."""
    for sent in Traffic(rng, DEMO):
        yield sent.request
