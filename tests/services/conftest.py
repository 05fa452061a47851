"""Fixtures of the reference services' tests: a moto S3 server, Redis-backed stores with their
own key prefix per test, the gateway's credentials and factories for sample payloads."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from services.catalog import Catalog, load_catalog
from services.fleet.stores import RedisFleetStore
from services.gateway.settings import GatewaySettings
from services.orders.stores import RedisOrdersStore
from tests.support.servers import free_port, wait_for_port

SAMPLES = Path(__file__).resolve().parent / "samples"
TOKEN = "test-token"
POS_SECRET = "test-pos-secret"
PAYMENT_SECRET = "whsec_test"


def sample(name: str) -> dict[str, Any]:
    """A sample payload from ``samples/<name>.json`` (a fresh copy each call)."""
    return dict(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode, in its own process on a free port: S3 over real HTTP, as boto3
    talks to AWS or MinIO (a process of its own keeps its work off the tests' GIL)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> tuple[Any, str]:
    """A boto3 S3 client and a new, empty bucket of its own."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"receipts-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


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
