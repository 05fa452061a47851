"""Uploads to a real (moto, server mode) bucket whose notifications go to SQS, read by
``tidal source s3-sqs``'s poller into the files App on the memory transport, with the App's
store on the same S3: exact counts under 10 % redelivered SQS messages, bad rows, bad names and
corrupt images. The CSV records land in ``processed/`` in the uploads bucket, whose own
notifications go through the whole path and must not re-trigger anything.

Redeliveries are real: for about one message in ten the publisher accepts the events and then
reports a failure, so the poller does not delete the message and SQS delivers it again once the
visibility timeout passes (as when a poller dies between publishing and deleting).
"""

from __future__ import annotations

import io
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from PIL import Image
from services.catalog import load_catalog
from services.files.app import (
    CSV_PROCESSED,
    FILE_VALIDATED,
    FILE_VALIDATION_FAILED,
    IMAGE_METADATA,
    ROW_REJECTED,
    THUMBNAILS_CREATED,
    create_app,
)
from services.files.objects import S3ObjectStore
from services.files.settings import FilesSettings
from services.files.uploads import CsvFile, corrupt_image, csv_file, image_file
from tests.support.objectstore import S3Server
from tests.support.s3notify import NotifiedBucket, notified_bucket

from tidal import Event, RetryableError
from tidal._idempotency import Idempotency
from tidal._sources.sqs import SqsOptions, SqsSource
from tidal.testing import MemoryBroker, MemoryIdempotencyStore

pytestmark = pytest.mark.integration
S3_CREATED = "com.amazonaws.s3.ObjectCreated:Put"


@dataclass
class Uploads:
    csvs: dict[str, CsvFile] = field(default_factory=dict)
    bad_names: list[str] = field(default_factory=list)
    images: dict[str, tuple[int, int]] = field(default_factory=dict)
    corrupt: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.csvs) + len(self.bad_names) + len(self.images) + len(self.corrupt)


def upload_all(bucket: NotifiedBucket, rng: random.Random) -> Uploads:
    made = Uploads()
    for n in range(30):
        made.csvs[f"upload_batch {n:02d}+{rng.randrange(99)}.csv"] = csv_file(
            rng, rows=rng.randrange(3, 40), broken=n % 4
        )
    made.bad_names = ["report.csv", "upload_notes.txt", "inbox/upload_x.csv", "UPLOAD_Y.CSV"]
    made.images = {
        "photos/beach day.jpg": (1600, 1200),
        "photos/small+1.jpg": (320, 240),
        "photos/tall.jpeg": (900, 1600),
        "scan.png": (1200, 900),
        "photos/no exif.jpg": (1024, 768),
        "photos/café.jpg": (640, 480),
    }
    made.corrupt = ["photos/broken.jpg", "photos/cut short.png"]
    for key, upload in made.csvs.items():
        put(bucket, key, upload.body)
    for key in made.bad_names:
        put(bucket, key, b"ID,Name,Email,Score\n1,a,a@b.io,1\n")
    for key, (width, height) in made.images.items():
        kind = "PNG" if key.endswith(".png") else "JPEG"
        model = None if "no exif" in key else "ACME Cam 3"
        put(bucket, key, image_file(rng, width=width, height=height, image_format=kind,
                                    camera_model=model))  # fmt: skip
    for key in made.corrupt:
        put(bucket, key, corrupt_image(rng))
    return made


def put(bucket: NotifiedBucket, key: str, body: bytes) -> None:
    bucket.s3.put_object(Bucket=bucket.bucket, Key=key, Body=body)


@dataclass
class FlakyAck:
    """Publishes into the broker; for about ``rate`` of the messages, then reports a failure
    (the poller keeps those messages and SQS redelivers them)."""

    broker: MemoryBroker
    rate: float
    seen: int = 0
    redelivering: Counter[str] = field(default_factory=Counter)
    lose_first: set[str] = field(default_factory=set)
    """Object keys whose first notification's acknowledgement is always lost."""

    async def publish_many(self, events: Sequence[Event]) -> None:
        await self.broker.publish_many(events)
        fresh = [e for e in events if e.id not in self.redelivering]
        self.seen += len(fresh)
        forced = any(e.subject in self.lose_first for e in fresh)
        if fresh and (forced or sum(self.redelivering.values()) < self.rate * self.seen):
            self.redelivering.update(e.id for e in events)
            raise RetryableError("acknowledgement lost")


async def run_source(poller: SqsSource, broker: MemoryBroker, bucket: NotifiedBucket) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result = await poller.poll_once()
        await broker.drain()
        if result.received == 0 and bucket.depth() == 0 and broker.in_flight == 0:
            return
    raise AssertionError("the queue did not drain in 120 s")


async def test_uploads_end_exactly_as_computed_under_redeliveries(s3_endpoint: str) -> None:
    server = S3Server(s3_endpoint, "us-east-1")
    uploads_bucket = notified_bucket(server)
    thumbnails = server.new_bucket("thumbs")
    store = S3ObjectStore(server.client())
    app = create_app(store, settings=FilesSettings(thumbnails_bucket=thumbnails))
    broker = MemoryBroker([app], idempotency=Idempotency(MemoryIdempotencyStore()))
    flaky = FlakyAck(broker, rate=0.10)
    options = SqsOptions(uploads_bucket.queue_url, wait_seconds=1, visibility_timeout=8)
    poller = SqsSource(uploads_bucket.sqs, flaky, options)

    made = upload_all(uploads_bucket, random.Random(20261206))
    flaky.lose_first = set(made.corrupt)  # each corrupt image's notification comes twice
    await run_source(poller, broker, uploads_bucket)

    published = Counter(e.type for e in broker.published)
    unique = Counter(t for t, _ in {(e.type, e.id) for e in broker.published})
    notifications = made.count + len(made.csvs)  # uploads, and the records written back
    redelivered = sum(flaky.redelivering.values())
    assert unique[S3_CREATED] == notifications
    assert published[S3_CREATED] == notifications + redelivered
    assert 0.08 <= redelivered / notifications <= 0.3  # 10 %, plus the corrupt images' batches
    assert unique[FILE_VALIDATED] == len(made.csvs)
    assert unique[FILE_VALIDATION_FAILED] == len(made.bad_names)
    assert unique[ROW_REJECTED] == sum(c.bad for c in made.csvs.values())
    assert unique[CSV_PROCESSED] == len(made.csvs)
    assert unique[IMAGE_METADATA] == unique[THUMBNAILS_CREATED] == len(made.images)

    catalog = load_catalog()
    for event in broker.published:
        if event.type.startswith("com.acme.files."):
            catalog.validate(event.type, event.data)  # every emitted event meets its schema
    check_summaries(broker, made)
    check_records(uploads_bucket, made)
    check_thumbnails(server, thumbnails, made)
    check_dead_letters(broker, made, flaky)


def latest(broker: MemoryBroker, type_: str) -> dict[str, Event]:
    return {e.data.get("sourceFile") or e.data["original_key"]: e
            for e in broker.published if e.type == type_}  # fmt: skip


def check_summaries(broker: MemoryBroker, made: Uploads) -> None:
    summaries = latest(broker, CSV_PROCESSED)
    assert set(summaries) == set(made.csvs)
    for key, upload in made.csvs.items():
        data = summaries[key].data
        assert (data["recordCount"], data["rejectedCount"]) == (upload.good, upload.bad), key
    failed = {e.data["key"] for e in broker.published if e.type == FILE_VALIDATION_FAILED}
    assert failed == set(made.bad_names)
    metadata = latest(broker, IMAGE_METADATA)
    assert set(metadata) == set(made.images)
    for key, (width, height) in made.images.items():
        data = metadata[key].data
        assert data["dimensions"] == {"width": width, "height": height}
        assert data["camera_model"] == (None if "no exif" in key or key.endswith(".png")
                                        else "ACME Cam 3")  # fmt: skip
        assert metadata[key].partitionkey == key


def check_records(bucket: NotifiedBucket, made: Uploads) -> None:
    for key, upload in made.csvs.items():
        target = f"processed/{key.removesuffix('.csv')}.jsonl"
        body = bucket.s3.get_object(Bucket=bucket.bucket, Key=target)["Body"].read()
        records = [json.loads(line) for line in body.decode().splitlines()]
        assert len(records) == upload.good
        assert len({r["id"] for r in records}) == upload.good


def check_thumbnails(server: S3Server, thumbnails: str, made: Uploads) -> None:
    s3 = server.client()
    listed = s3.list_objects_v2(Bucket=thumbnails)["Contents"]
    assert len(listed) == 3 * len(made.images)
    for key, original in made.images.items():
        stem = key.rsplit(".", 1)[0]
        for size in ("200x200", "500x500", "1024x768"):
            got = s3.get_object(Bucket=thumbnails, Key=f"thumbnails/{size}/{stem}.jpg")
            image = Image.open(io.BytesIO(got["Body"].read()))
            width, height = (int(n) for n in size.split("x"))
            assert image.format == "JPEG"
            if original[0] <= width and original[1] <= height:
                assert image.size == original  # never enlarged
            else:  # fills the box on one side, keeps the aspect ratio
                assert max(image.width / width, image.height / height) == 1
                assert image.width / image.height == pytest.approx(
                    original[0] / original[1], rel=0.01
                )
            assert got["Metadata"]["source-etag"]


def check_dead_letters(broker: MemoryBroker, made: Uploads, flaky: FlakyAck) -> None:
    letters = broker.all_dead_letters()
    assert {letter.subject for letter in letters} == set(made.corrupt)
    assert all(letter.extensions["tidalerrorclass"] == "InvalidEventError" for letter in letters)
    # one letter per corrupt image, however often SQS redelivered its notification: once the
    # letter is sent, the event's idempotency key is settled and a copy is a duplicate
    assert all(flaky.redelivering[letter.id] for letter in letters)  # really delivered again
    assert len(letters) == len(made.corrupt)
    assert len({letter.key for letter in letters}) == len(made.corrupt)
