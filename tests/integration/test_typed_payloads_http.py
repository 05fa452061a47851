"""A typed App served by `tidal run` over HTTP: valid data is handled (the reply carries the
emitted model as JSON), invalid data is a 422 naming the field (the Broker dead-letters it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "o-1",
    "ce-source": "/pos",
    "ce-type": "com.acme.pos.order.confirmed.v1",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TIDAL_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "tidal.cli", "run", "tests.asyncapi.typed_app:app"]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_valid_data_is_handled_and_the_emitted_model_is_json(server: str) -> None:
    data = {"orderId": "o-1", "total": 250, "items": [{"sku": "A", "qty": 2}]}
    response = httpx.post(f"{server}/high-value", headers=HEADERS, content=json.dumps(data))
    assert response.status_code == 200, response.text
    assert response.headers["ce-type"] == "com.acme.pos.order.high-value.v1"
    assert response.json() == {"orderId": "o-1", "total": 250.0}


def test_invalid_data_is_a_permanent_failure(server: str) -> None:
    data = {"orderId": "o-2", "total": 250, "items": [{"sku": "A", "qty": 0}]}
    headers = {**HEADERS, "ce-id": "o-2"}
    response = httpx.post(f"{server}/high-value", headers=headers, content=json.dumps(data))
    assert response.status_code == 422, response.text
    assert response.json()["message"] == (
        "InvalidEventError: data does not match Order: data.items[0].qty: "
        "Input should be greater than 0 (greater_than)"
    )
