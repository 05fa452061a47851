"""The files App on the memory transport and an in-memory bucket: real CSV files and real
images (Pillow), bad rows, bad names, corrupt images and redelivered notifications."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from PIL import Image
from services.files.app import (
    CSV_PROCESSED,
    FILE_VALIDATED,
    FILE_VALIDATION_FAILED,
    IMAGE_METADATA,
    ROW_REJECTED,
    THUMBNAILS_CREATED,
    create_app,
)
from services.files.objects import MemoryObjectStore
from services.files.rows import parse_rows
from services.files.settings import FilesSettings
from services.files.uploads import corrupt_image, csv_file, image_file, s3_record

from tidal import Event, s3_notification_events
from tidal._idempotency import Idempotency
from tidal.testing import MemoryBroker, MemoryIdempotencyStore

BUCKET = "acme-uploads"
THUMBS = "acme-thumbs"


class Harness:
    def __init__(self) -> None:
        self.store = MemoryObjectStore()
        settings = FilesSettings(thumbnails_bucket=THUMBS)
        self.broker = MemoryBroker(
            [create_app(self.store, settings=settings)],
            idempotency=Idempotency(MemoryIdempotencyStore()),
        )
        self.sequence = 0

    async def upload(self, key: str, body: bytes) -> list[Event]:
        await self.store.put(BUCKET, key, body, content_type="x", metadata={})
        self.sequence += 1
        events = s3_notification_events(
            {"Records": [s3_record(BUCKET, key, body, sequence=self.sequence)]}
        )
        await self.broker.publish_many(events)
        await self.broker.drain()
        return events

    def of_type(self, type_: str) -> list[Event]:
        return [e for e in self.broker.published if e.type == type_]


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_a_csv_becomes_one_record_per_good_row_and_a_summary(harness: Harness) -> None:
    upload = csv_file(random.Random(1), rows=25, broken=4)
    await harness.upload("upload_sales q3.csv", upload.body)
    [validated] = harness.of_type(FILE_VALIDATED)
    assert validated.data == {
        "bucket": BUCKET, "key": "upload_sales q3.csv", "size": len(upload.body),
        "etag": harness.store.objects[(BUCKET, "upload_sales q3.csv")].etag,
    }  # fmt: skip
    [summary] = harness.of_type(CSV_PROCESSED)
    assert summary.data["recordCount"] == 25
    assert summary.data["rejectedCount"] == 4
    assert summary.data["sourceFile"] == "upload_sales q3.csv"
    assert len(harness.of_type(ROW_REJECTED)) == 4
    stored = harness.store.objects[(BUCKET, "processed/upload_sales q3.jsonl")].body
    records = [json.loads(line) for line in stored.decode().splitlines()]
    assert len(records) == 25
    assert all(set(r) == {"id", "name", "email", "score"} for r in records)
    assert all(isinstance(r["score"], int) and r["email"] == r["email"].lower() for r in records)
    assert not any(r["name"].startswith(" ") for r in records)


async def test_each_bad_row_is_reported_with_its_line_and_reason(harness: Harness) -> None:
    body = (
        b"ID,Name,Email,Score\n1,Ann,ann@example.com,90\n2,Bob,bob-at-example,80\n"
        b"1,Ann,a@b.io,70\n3,Cy,cy@example.com,x\n"
    )
    await harness.upload("upload_small.csv", body)
    rejected = sorted((e.data["line"], e.data["reason"]) for e in harness.of_type(ROW_REJECTED))
    assert rejected == [
        (3, "Email 'bob-at-example' is not an address"),
        (4, "duplicate ID 1"),
        (5, "Score 'x' is not an integer"),
    ]
    assert harness.of_type(CSV_PROCESSED)[0].data["recordCount"] == 1
    assert harness.broker.all_dead_letters() == []


@pytest.mark.parametrize("key", ["report.csv", "upload_report.txt", "data/upload_x.csv"])
async def test_a_bad_name_fails_validation_and_goes_no_further(harness: Harness, key: str) -> None:
    await harness.upload(key, b"ID,Name,Email,Score\n")
    [failed] = harness.of_type(FILE_VALIDATION_FAILED)
    assert failed.data["key"] == key
    assert "upload_" in failed.data["reason"]
    assert harness.of_type(CSV_PROCESSED) == []


async def test_a_file_without_the_four_columns_is_dead_lettered_with_the_reason(
    harness: Harness,
) -> None:
    await harness.upload("upload_wrong.csv", b"a,b\n1,2\n")
    [letter] = harness.broker.all_dead_letters()
    assert letter.type == FILE_VALIDATED
    assert "expected ID, Name, Email, Score" in letter.extensions["tidalerrormessage"]
    assert letter.extensions["tidalattempts"] == 1


async def test_outputs_written_into_the_bucket_do_not_retrigger(harness: Harness) -> None:
    body = csv_file(random.Random(2), rows=3).body
    await harness.upload("processed/upload_x.jsonl", body)
    await harness.upload("processed/upload_y.csv", body)
    assert [
        e.type for e in harness.broker.published if not e.type.startswith("com.amazonaws")
    ] == []


async def test_an_image_gets_metadata_and_three_thumbnails_keyed_by_its_key(
    harness: Harness,
) -> None:
    body = image_file(random.Random(3), width=1600, height=1200)
    await harness.upload("photos/beach day.jpg", body)
    [meta] = harness.of_type(IMAGE_METADATA)
    assert meta.data == {
        "bucket": BUCKET, "original_key": "photos/beach day.jpg",
        "dimensions": {"width": 1600, "height": 1200}, "format": "JPEG", "mode": "RGB",
        "file_size": len(body), "camera_model": "ACME Cam 3",
    }  # fmt: skip
    [created] = harness.of_type(THUMBNAILS_CREATED)
    assert meta.partitionkey == created.partitionkey == "photos/beach day.jpg"
    sizes = {}
    for (bucket, key), stored in harness.store.objects.items():
        if bucket == THUMBS:
            image = Image.open(io.BytesIO(stored.body))
            sizes[key] = (image.format, image.size)
            assert stored.metadata["source"] == "s3%3A//acme-uploads/photos/beach%20day.jpg"
    assert sizes == {
        "thumbnails/200x200/photos/beach day.jpg": ("JPEG", (200, 150)),
        "thumbnails/500x500/photos/beach day.jpg": ("JPEG", (500, 375)),
        "thumbnails/1024x768/photos/beach day.jpg": ("JPEG", (1024, 768)),
    }
    assert [t["width"] for t in created.data["thumbnails"]] == [200, 500, 1024]


async def test_only_the_largest_thumbnail_is_watermarked(harness: Harness) -> None:
    plain = Image.new("RGB", (2048, 1536), (0, 0, 0))
    out = io.BytesIO()
    plain.save(out, format="PNG")
    await harness.upload("black.png", out.getvalue())
    corners = {}
    for (bucket, key), stored in harness.store.objects.items():
        if bucket == THUMBS:
            image = Image.open(io.BytesIO(stored.body)).convert("L")
            w, h = image.size
            corner = image.crop((w - 120, h - 40, w - 10, h - 10))  # inside the 10 px margin
            margin = image.crop((w - 10, h - 10, w, h))
            corners[key.split("/")[1]] = (corner.getextrema()[1] > 128, margin.getextrema()[1] > 64)
    assert corners == {
        "200x200": (False, False),
        "500x500": (False, False),
        "1024x768": (True, False),
    }


async def test_a_corrupt_image_is_dead_lettered_at_once_with_a_clear_reason(
    harness: Harness,
) -> None:
    await harness.upload("photos/broken.jpg", corrupt_image(random.Random(4)))
    [letter] = harness.broker.all_dead_letters()
    assert letter.extensions["tidalerrorclass"] == "InvalidEventError"
    assert "corrupt image data" in letter.extensions["tidalerrormessage"]
    assert letter.extensions["tidalattempts"] == 1
    assert harness.of_type(IMAGE_METADATA) == []


async def test_a_redelivered_notification_is_processed_once(harness: Harness) -> None:
    body = csv_file(random.Random(5), rows=10, broken=1).body
    events = await harness.upload("upload_twice.csv", body)
    puts = harness.store.puts
    await harness.broker.publish_many(events)  # the same SQS message delivered again
    await harness.broker.drain()
    assert len(harness.of_type(CSV_PROCESSED)) == 1
    assert harness.store.puts == puts


async def test_two_notifications_of_one_object_version_emit_the_same_ids(
    harness: Harness,
) -> None:
    body = csv_file(random.Random(6), rows=4).body
    first = await harness.upload("upload_same.csv", body)
    record: dict[str, Any] = json.loads(json.dumps(first[0].data))
    record["responseElements"]["x-amz-request-id"] = "ANOTHER"  # S3's second notification
    await harness.broker.publish_many(s3_notification_events({"Records": [record]}))
    await harness.broker.drain()
    ids = [e.id for e in harness.of_type(FILE_VALIDATED)]
    assert len(ids) == 2
    assert len(set(ids)) == 1  # the second FileValidated has the same (source, id): deduped
    assert len(harness.of_type(CSV_PROCESSED)) == 1


def test_rows_are_cleaned() -> None:
    parsed = parse_rows(
        b"\xef\xbb\xbf ID , name,EMAIL,Score\r\n 7 ,  Ada   Lovelace ,ADA@Example.COM, 42 \r\n"
    )
    assert parsed.records == [
        {"id": "7", "name": "Ada Lovelace", "email": "ada@example.com", "score": 42}
    ]


async def test_a_throttled_read_is_retried_then_read_as_tidal_dev_shows(harness: Harness) -> None:
    """Issue 18, finding 9: `tidal dev`'s demo throttles its first CSV's first read this way."""
    upload = csv_file(random.Random(7), rows=5, broken=0)
    harness.store.slow_down(BUCKET, "upload_slow.csv")
    await harness.upload("upload_slow.csv", upload.body)
    assert harness.broker.stats.get("csv", "retried") == 1
    [summary] = harness.of_type(CSV_PROCESSED)
    assert summary.data["recordCount"] == 5
    assert harness.broker.all_dead_letters() == []


async def test_the_memory_throttle_fails_as_s3_slowdown_does_through_boto3() -> None:
    """Same error as `S3ObjectStore` raises for S3's 503 ``SlowDown``, produced here by botocore's
    own client (its Stubber answers the error S3 sends when throttling)."""
    import boto3  # type: ignore[import-untyped]
    from botocore.stub import Stubber  # type: ignore[import-untyped]
    from services.files.objects import S3ObjectStore

    from tidal import RetryableError

    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_object",
            service_error_code="SlowDown",
            service_message="Please reduce your request rate.",
            http_status_code=503,
        )
        with pytest.raises(RetryableError) as from_s3:
            await S3ObjectStore(client).get(BUCKET, "a.csv", max_bytes=100)
    memory = MemoryObjectStore()
    await memory.put(BUCKET, "a.csv", b"x", content_type="text/csv", metadata={})
    memory.slow_down(BUCKET, "a.csv")
    with pytest.raises(RetryableError) as from_memory:
        await memory.get(BUCKET, "a.csv", max_bytes=100)
    assert str(from_memory.value) == str(from_s3.value)
    assert (await memory.get(BUCKET, "a.csv", max_bytes=100)).body == b"x"  # once only
