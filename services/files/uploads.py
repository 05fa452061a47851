"""Uploads for the demo and the tests: real CSV files and real images (Pillow), and the S3
notification record an upload produces.

`csv_file` writes ``ID, Name, Email, Score`` rows, some of them broken on purpose (and says
how many); `image_file` draws a JPEG or PNG, optionally with an EXIF camera model;
`corrupt_image` is a JPEG cut short; `s3_record` is the record S3 puts into SQS for an upload
(keys URL-encoded as S3 does). Called by `services.files.demo` and tests/services.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote_plus

from PIL import Image, ImageDraw

BROKEN_ROWS: Final = (
    ["", "No Id", "noid@example.com", "10"],  # empty ID
    ["x1", "Bad Mail", "not-an-address", "10"],  # e-mail
    ["x2", "Bad Score", "score@example.com", "ninety"],  # score
    ["x3", "Too", "many@example.com", "1", "extra"],  # field count
)


@dataclass(frozen=True)
class CsvFile:
    body: bytes
    good: int
    bad: int


def csv_file(rng: random.Random, *, rows: int, broken: int = 0) -> CsvFile:
    """A CSV of ``rows`` good rows with ``broken`` bad ones mixed in (CRLF, as Excel writes)."""
    lines = ["ID,Name,Email,Score"]
    good = [
        f"{n},  Person {rng.randrange(10**6)} ,Person{n}@Example.com,{rng.randrange(101)}"
        for n in range(1, rows + 1)
    ]
    bad = [",".join(BROKEN_ROWS[n % len(BROKEN_ROWS)]) for n in range(broken)]
    mixed = good + bad
    rng.shuffle(mixed)
    return CsvFile(("\r\n".join([*lines, *mixed]) + "\r\n").encode(), rows, broken)


def image_file(
    rng: random.Random,
    *,
    width: int = 1600,
    height: int = 1200,
    image_format: str = "JPEG",
    camera_model: str | None = "ACME Cam 3",
) -> bytes:
    """A drawn picture; JPEGs carry ``camera_model`` as EXIF Model (0x0110)."""
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x, y = rng.randrange(width), rng.randrange(height)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x, y, x + width // 5, y + height // 5), fill=colour)
    out = io.BytesIO()
    if image_format == "JPEG" and camera_model is not None:
        exif = Image.Exif()
        exif[0x0110] = camera_model
        image.save(out, format="JPEG", quality=90, exif=exif)
    else:
        image.save(out, format=image_format)
    return out.getvalue()


def corrupt_image(rng: random.Random) -> bytes:
    """A JPEG cut after its first kilobytes: the header reads, the data does not."""
    return image_file(rng, width=400, height=300)[:600]


def s3_record(
    bucket: str, key: str, body: bytes, *, sequence: int, region: str = "us-east-1"
) -> dict[str, Any]:
    """The notification record S3 sends for a PUT of ``body`` at ``key``."""
    etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": now,
        "eventName": "ObjectCreated:Put",
        "responseElements": {
            "x-amz-request-id": f"{sequence:016X}",
            "x-amz-id-2": hashlib.sha256(f"{bucket}/{key}/{sequence}".encode()).hexdigest(),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": len(body),
                "eTag": etag,
                "sequencer": f"{sequence:018X}",
            },
        },
    }
