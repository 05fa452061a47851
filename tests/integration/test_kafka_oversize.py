"""A record just under the size limit that fails: retried by claim-check, or dead-lettered, never
a crash loop (issue 17, finding 2).

The source record is produced as close under the producer's ``max_request_size`` (aiokafka's
default, 1 MiB) as it can be; its retry record (the original plus tidal's headers) and its dead
letter (the original plus the failure) are over it. Before: ``MessageSizeTooLargeError`` stopped
the worker, and the events behind it on the key were never handled.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from tests.support.kafka import (
    create_topic,
    eventually,
    produce,
    read_topic,
    unique,
    worker_settings,
)
from tests.support.objectstore import S3Server, moto_server, use_test_credentials

from tidal import App, DeliveryPolicy, Event
from tidal._bindings.kafka import to_record
from tidal._errors import ConfigurationError
from tidal._settings import ClaimCheckSettings
from tidal._transports.kafka import KafkaWorker
from tidal._transports.kafka.claims import ClaimMissing, claims_from_settings
from tidal_data.redrive import original_record

pytestmark = pytest.mark.integration

LIMIT = 1_048_576  # aiokafka's max_request_size, the worker's default
KEY = b"vehicle-7"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    use_test_credentials()
    with moto_server("eu-west-1") as server:
        yield server


def just_under_the_limit(marker: str) -> tuple[Event, tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """An event whose record is within 64 bytes of the limit, and the record."""
    event = Event.create(
        type="com.example.big.v1", source="/t", data={"blob": ""}, partitionkey=KEY.decode()
    )
    blob = "x" * (LIMIT - 64 - _size(event))
    event = Event.create(
        type="com.example.big.v1",
        source="/t",
        data={"marker": marker, "blob": blob},
        partitionkey=KEY.decode(),
    )
    message = to_record(event)
    headers = list(message.headers.items())
    assert LIMIT - 96 < _size(event) <= LIMIT
    return event, (KEY, message.value, headers)


def _size(event: Event) -> int:
    message = to_record(event)
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        KEY, message.value, list(message.headers.items())
    )
    return size


def small(marker: str) -> tuple[Event, tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    event = Event.create(
        type="com.example.big.v1", source="/t", data={"marker": marker}, partitionkey="vehicle-7"
    )
    message = to_record(event)
    return event, (KEY, message.value, list(message.headers.items()))


def failing_once_app(handled: list[tuple[str, int]], attempts: dict[str, int]) -> App:
    app = App("oversize")

    @app.on(type="com.example.big.v1")
    async def big(event: Event) -> None:
        marker = event.data["marker"]
        attempts[marker] = attempts.get(marker, 0) + 1
        if marker == "big" and attempts[marker] == 1:
            raise RuntimeError("downstream busy")
        handled.append((marker, len(event.data.get("blob", ""))))

    return app


async def test_without_a_claim_store_it_is_dead_lettered_with_a_reason_and_the_key_moves_on(
    kafka_bootstrap: str,
) -> None:
    topic = unique("oversize")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    big, big_record = just_under_the_limit("big")
    _, after = small("after")
    await produce(kafka_bootstrap, topic, [big_record, after])
    handled: list[tuple[str, int]] = []
    attempts: dict[str, int] = {}
    app = failing_once_app(handled, attempts)
    async with KafkaWorker(app, worker_settings(kafka_bootstrap, topic=topic)) as worker:
        await eventually(
            lambda: _alive_and(worker, handled == [("after", 0)]),
            within=40,
            what="the event behind the big one on its key",
        )
        assert worker.metrics.count("big", "dead_lettered") == 1
    [letter] = await read_topic(kafka_bootstrap, f"{topic}.dlq", count=1)
    headers = dict(letter.headers)
    assert letter.key == KEY
    assert letter.value == b""  # dropped: no store to put it in
    assert headers["ce_id"] == big.id.encode()
    assert headers["ce_tidalerrorclass"] == b"RecordTooLarge"
    reason = headers["ce_tidalerrormessage"].decode()
    assert f"over the {LIMIT}-byte limit" in reason
    assert "TIDAL_KAFKA__CLAIM_CHECK__BUCKET" in reason
    assert "value dropped" in headers["tidal-oversize"].decode()
    origin = (headers["ce_tidaltopic"], headers["ce_tidalpartition"], headers["ce_tidaloffset"])
    assert origin == (topic.encode(), b"0", b"0")  # where the original still is
    assert attempts == {"big": 1, "after": 1}


async def test_with_a_claim_store_the_retry_carries_a_reference_and_the_handler_gets_the_event(
    kafka_bootstrap: str, s3: S3Server
) -> None:
    topic, bucket = unique("claimed"), s3.new_bucket("claims")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    big, big_record = just_under_the_limit("big")
    await produce(kafka_bootstrap, topic, [big_record])
    handled: list[tuple[str, int]] = []
    attempts: dict[str, int] = {}
    app = failing_once_app(handled, attempts)
    claim_check = ClaimCheckSettings(
        bucket=bucket, region=s3.region, endpoint=s3.endpoint, path_style=True
    )
    claims = claims_from_settings(claim_check)
    settings = worker_settings(kafka_bootstrap, topic=topic)
    async with KafkaWorker(app, settings, claims=claims) as worker:
        await eventually(
            lambda: _alive_and(worker, [m for m, _ in handled] == ["big"]),
            within=40,
            what="the big event's second attempt",
        )
        retry_topic = worker.topics["big"].retry
    assert handled == [("big", len(big.data["blob"]))]
    assert attempts == {"big": 2}
    [retried] = await read_topic(kafka_bootstrap, retry_topic, count=1)
    headers = dict(retried.headers)
    assert retried.value == b""
    assert headers["tidal-claim"].startswith(f"s3://{bucket}/tidal-claims/sha256/".encode())
    assert int(headers["tidal-claim-bytes"]) == len(big_record[1])
    stored = s3.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Size"] for o in stored] == [len(big_record[1])]


async def _alive_and(worker: KafkaWorker, condition: bool) -> bool:
    """``condition``, failing at once if the worker has stopped (the crash this guards)."""
    for task in worker._tasks:
        if task.done():
            task.result()
            raise AssertionError("a subscription's consumer stopped")
    await asyncio.sleep(0)
    return condition


async def test_a_claim_checked_dead_letter_re_driven_reaches_the_handler_whole(
    kafka_bootstrap: str, s3: S3Server
) -> None:
    """The letter keeps its ``tidal-claim``; `tidal dlq redrive` sends the record back as it was
    read (failure headers removed), and the worker restores the value before decoding."""
    topic, bucket = unique("redrive"), s3.new_bucket("claims")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    big, big_record = just_under_the_limit("big")
    await produce(kafka_bootstrap, topic, [big_record])
    claims = claims_from_settings(
        ClaimCheckSettings(bucket=bucket, region=s3.region, endpoint=s3.endpoint, path_style=True)
    )
    failing = App("redrive")
    received: list[int] = []

    @failing.on(type="com.example.big.v1", policy=DeliveryPolicy.of(max_attempts=1))
    async def big_handler(event: Event) -> None:
        received.append(len(event.data["blob"]))
        if len(received) == 1:
            raise RuntimeError("broken for good")

    settings = worker_settings(kafka_bootstrap, topic=topic)
    async with KafkaWorker(failing, settings, claims=claims) as worker:
        [letter] = await read_topic(kafka_bootstrap, f"{topic}.dlq", count=1)
        headers = dict(letter.headers)
        assert letter.value == b""
        assert "value claim-checked" in headers["tidal-oversize"].decode()
        assert headers["ce_tidalerrorclass"] == b"RuntimeError"
        key, value, redriven = original_record(letter)
        await produce(kafka_bootstrap, topic, [(key, value, redriven)])
        await eventually(
            lambda: _alive_and(worker, len(received) == 2), within=40, what="the re-driven event"
        )
    assert received == [len(big.data["blob"])] * 2


async def test_the_bucket_store_stores_by_content_and_says_what_is_missing(s3: S3Server) -> None:
    """The worker's own S3 store (no data plane installed): the same bytes are one object, a
    reference it does not hold is `ClaimMissing` (not retried), a missing bucket fails start."""
    bucket = s3.new_bucket("claims")
    where = {"region": s3.region, "endpoint": s3.endpoint, "path_style": True}
    claims = claims_from_settings(ClaimCheckSettings(bucket=bucket, prefix="p/", **where))
    assert claims is not None
    await claims.check()
    first, again = await claims.put(b"value"), await claims.put(b"value")
    assert first == again == f"s3://{bucket}/p/sha256/{hashlib.sha256(b'value').hexdigest()}"
    assert await claims.get(first) == b"value"
    assert len(s3.client().list_objects_v2(Bucket=bucket)["Contents"]) == 1
    with pytest.raises(ClaimMissing):
        await claims.get(f"s3://{bucket}/p/sha256/{'0' * 64}")
    with pytest.raises(ClaimMissing):
        await claims.get(f"s3://elsewhere/p/sha256/{'0' * 64}")
    absent = claims_from_settings(ClaimCheckSettings(bucket=f"{bucket}-absent", **where))
    assert absent is not None
    with pytest.raises(ConfigurationError, match="absent"):
        await absent.check()
    assert claims_from_settings(ClaimCheckSettings()) is None
