"""`tidal source s3-webhook`'s endpoint: a MinIO-style notification body -> CloudEvents, and the
status the store's retry acts on (200 / 400 / 401 / 413 / 503)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.s3notify import RecordingPublisher

from tidal._sources.webhook import webhook_app

RECORDS = Path(__file__).parents[1] / "conformance" / "aws_s3" / "records.json"


def minio_body() -> dict[str, Any]:
    record = json.loads(RECORDS.read_text())["records"][1]
    return {"EventName": "s3:ObjectCreated:Put", "Key": "photos/holiday/beach day.jpg",
            "Records": [record]}  # fmt: skip


async def post(publisher: RecordingPublisher, body: bytes, **kwargs: Any) -> httpx.Response:
    app = webhook_app(publisher, **kwargs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://source") as client:
        return await client.post("/", content=body)


async def test_a_minio_notification_is_published_and_answered_200() -> None:
    publisher = RecordingPublisher()
    response = await post(publisher, json.dumps(minio_body()).encode())
    assert (response.status_code, response.json()) == (200, {"published": 1})
    event = publisher.events[0]
    assert event.type == "com.amazonaws.s3.s3:ObjectCreated:Put"
    assert event.source == "minio:s3.us-east-1.photos"
    assert event.subject == "holiday/beach day.jpg"


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"Records": [{}]}'])
async def test_a_body_that_is_no_notification_is_a_400_and_publishes_nothing(body: bytes) -> None:
    publisher = RecordingPublisher()
    response = await post(publisher, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid-notification"
    assert publisher.events == []


async def test_a_refused_publish_is_a_503_so_the_store_retries() -> None:
    response = await post(RecordingPublisher(refuse=True), json.dumps(minio_body()).encode())
    assert response.status_code == 503


async def test_the_bearer_token_is_checked_when_configured() -> None:
    body = json.dumps(minio_body()).encode()
    publisher = RecordingPublisher()
    app = webhook_app(publisher, token="s3cret")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://source") as client:
        missing = await client.post("/", content=body)
        wrong = await client.post("/", content=body, headers={"Authorization": "Bearer nope"})
        right = await client.post("/", content=body, headers={"Authorization": "Bearer s3cret"})
    assert [r.status_code for r in (missing, wrong, right)] == [401, 401, 200]
    assert len(publisher.events) == 1


async def test_a_body_over_the_limit_is_a_413() -> None:
    response = await post(RecordingPublisher(), b" " * 2048, max_body=1024)
    assert response.status_code == 413
