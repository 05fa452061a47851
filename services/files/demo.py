"""`tidal dev`'s demo traffic for the files service: uploads into the in-memory bucket and the
S3 notification CloudEvents they produce (what ``tidal source s3-sqs`` would publish).

One upload in ten is an image (one in fifty corrupt: dead-lettered), one in twenty a file whose
name fails validation; CSV files carry a few broken rows. The first CSV upload's first read is
throttled as S3 throttles (503 ``SlowDown``, a `RetryableError`), whatever the seed: the ``csv``
subscription retries it after its policy's delay and reads it, so every run shows a retry and
its success. Discovered by `tidal.cli._discovering`.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from typing import Final

from services.files.app import DEV_STORE
from services.files.objects import StoredObject
from services.files.uploads import corrupt_image, csv_file, image_file, s3_record
from tidal import Event, s3_notification_events

BUCKET: Final = "acme-uploads"


def events(rng: random.Random) -> Iterator[Event]:
    throttled = False
    for n in itertools.count(1):
        key, body, content_type = _upload(rng, n)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        DEV_STORE.objects[(BUCKET, key)] = StoredObject(body, etag, {}, content_type)
        if not throttled and content_type == "text/csv":
            DEV_STORE.slow_down(BUCKET, key)  # S3 throttles its first read: retried, then read
            throttled = True
        record = s3_record(BUCKET, key, body, sequence=n)
        yield from s3_notification_events({"Records": [record]})


def _upload(rng: random.Random, n: int) -> tuple[str, bytes, str]:
    roll = rng.random()
    if roll < 0.02:
        return f"photos/broken {n}.jpg", corrupt_image(rng), "image/jpeg"
    if roll < 0.10:
        body = image_file(rng, width=rng.choice((640, 1600)), height=rng.choice((480, 1200)))
        return f"photos/holiday {n}.jpg", body, "image/jpeg"
    if roll < 0.15:
        return f"notes-{n}.txt", b"not a csv upload", "text/plain"
    upload = csv_file(rng, rows=rng.randrange(5, 40), broken=rng.randrange(3))
    return f"upload_batch {n}.csv", upload.body, "text/csv"
