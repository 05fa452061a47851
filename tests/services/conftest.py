"""Fixtures of the reference services' tests: a moto S3 server, Redis-backed stores with their
own key prefix per test, the gateway's credentials and factories for sample payloads."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from services.catalog import Catalog, load_catalog
from services.fleet.stores import RedisFleetStore
from services.gateway.settings import GatewaySettings
from services.orders.stores import RedisOrdersStore
from tests.support.objectstore import moto_server, new_bucket, s3_client

SAMPLES = Path(__file__).resolve().parent / "samples"
TOKEN = "test-token"
POS_SECRET = "test-pos-secret"
PAYMENT_SECRET = "whsec_test"


def sample(name: str) -> dict[str, Any]:
    """A sample payload from ``samples/<name>.json`` (a fresh copy each call)."""
    return dict(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode, in its own process on a free port (`tests.support.objectstore`)."""
    with moto_server() as server:
        yield server.endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> tuple[Any, str]:
    """A boto3 S3 client and a new, empty bucket of its own."""
    client = s3_client(s3_endpoint, "us-east-1")
    return client, new_bucket(client, "us-east-1", "receipts")


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix no other test uses (the session shares one redis-server)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def fleet_store(redis_client: aioredis.Redis, prefix: str) -> RedisFleetStore:
    return RedisFleetStore(redis_client, prefix=prefix)


@pytest.fixture
def orders_store(redis_client: aioredis.Redis, prefix: str) -> RedisOrdersStore:
    return RedisOrdersStore(redis_client, prefix=prefix)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def gateway_settings() -> GatewaySettings:
    return GatewaySettings(
        tokens=[SecretStr(TOKEN)],
        pos_secrets=[SecretStr(POS_SECRET)],
        payment_secrets=[SecretStr(PAYMENT_SECRET)],
    )
