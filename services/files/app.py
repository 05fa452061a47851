"""The files App: uploads to a bucket, as S3 event notifications (``tidal source s3-sqs`` or
``s3-webhook`` put them on the broker as CloudEvents, type ``com.amazonaws.s3.ObjectCreated:*``,
subject the decoded key), processed as CSV records or image thumbnails.

- ``validate``: every upload that is not an image and not an output (``processed/...``): valid
  only if the key starts ``upload_`` and ends ``.csv``; emits ``FileValidated`` or
  ``FileValidationFailed``. ``FileValidated``'s id is a name-based UUID of (bucket, key, eTag,
  sequencer), so two notifications of one object version dedupe downstream.
- ``csv``: on ``FileValidated``, reads the file, one record per good row into
  ``processed/<key>.jsonl`` in the same bucket (which the ``validate`` filter ignores: outputs
  never re-trigger), one ``CsvRowRejected`` per bad row, then the summary ``CsvFileProcessed``
  (``recordCount``, ``sourceFile``). A file without the four columns is dead-lettered.
- ``images``: every ``.jpg`` / ``.jpeg`` / ``.png`` upload: ``ImageMetadataExtracted`` and three
  JPEG thumbnails in the thumbnails bucket under ``thumbnails/{w}x{h}/<key without extension>.jpg``
  with the source in their metadata, then ``ThumbnailsCreated``; both events keyed (partitionkey)
  by the object key. A corrupt image is an `InvalidEventError`: dead-lettered with the reason.

Outputs are pure functions of the upload, so a retry rewrites the same bytes; emitted ids come
from the input (``ctx.derive``) or from the object version, so retries and redeliveries emit
the same ids. ``tidal run services.files.app:app`` serves the module-level ``app``.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import uuid
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from services.catalog import Catalog, load_catalog
from services.files import imaging
from services.files.objects import MemoryObjectStore, ObjectStore, S3ObjectStore
from services.files.rows import parse_rows
from services.files.settings import FilesSettings
from tidal import (
    App,
    Context,
    DeliveryPolicy,
    Event,
    InvalidEventError,
    all_of,
    any_of,
    not_,
    prefix,
    suffix,
)

FILE_VALIDATED: Final = "com.acme.files.file.validated.v1"
FILE_VALIDATION_FAILED: Final = "com.acme.files.file.validation-failed.v1"
ROW_REJECTED: Final = "com.acme.files.csv.row-rejected.v1"
CSV_PROCESSED: Final = "com.acme.files.csv.processed.v1"
IMAGE_METADATA: Final = "com.acme.files.image.metadata.v1"
THUMBNAILS_CREATED: Final = "com.acme.files.image.thumbnails-created.v1"
SOURCE: Final = "files"
VERSION_NAMESPACE: Final = uuid.UUID("6c0e3f5e-1d2b-5a4c-8e7f-9a0b1c2d3e4f")
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
POLICY: Final = DeliveryPolicy.of(
    max_attempts=5, delay="PT0.5S", max_delay="PT30S", timeout="PT60S"
)


def create_app(
    store: ObjectStore,
    *,
    settings: FilesSettings | None = None,
    catalog: Catalog | None = None,
    policy: DeliveryPolicy = POLICY,
) -> App:
    """The files App over ``store``."""
    config = settings or FilesSettings()
    schemas = catalog or load_catalog()
    outputs = config.processed_prefix
    app = App("files", policy=policy)

    @app.on(
        _uploads(outputs),
        not_(_is_image()),
        name="validate",
        emits=[FILE_VALIDATED, FILE_VALIDATION_FAILED],
    )
    async def validate(event: Event) -> Event:
        upload = Upload.of(event)
        if upload.key.startswith("upload_") and upload.key.endswith(".csv"):
            data = {"bucket": upload.bucket, "key": upload.key, "size": upload.size}
            return upload.event(FILE_VALIDATED, {**data, "etag": upload.etag})
        reason = "the key must start with 'upload_' and end with '.csv'"
        data = {"bucket": upload.bucket, "key": upload.key, "reason": reason}
        return upload.event(FILE_VALIDATION_FAILED, data)

    @app.on(type=FILE_VALIDATED, name="csv", emits=[ROW_REJECTED, CSV_PROCESSED])
    async def csv_file(event: Event, ctx: Context) -> list[Event]:
        schemas.validate(event.type, event.data)
        bucket, key = event.data["bucket"], event.data["key"]
        found = await store.get(bucket, key, max_bytes=config.max_object_bytes)
        parsed = await asyncio.to_thread(parse_rows, found.body)
        target = f"{outputs}{key.removesuffix('.csv')}.jsonl"
        body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in parsed.records).encode()
        metadata = {"source": quote(f"s3://{bucket}/{key}"), "source-etag": found.etag}
        await store.put(
            bucket, target, body, content_type="application/x-ndjson", metadata=metadata
        )
        emitted = [
            ctx.derive(
                type=ROW_REJECTED,
                data={
                    "bucket": bucket,
                    "sourceFile": key,
                    "line": r.line,
                    "reason": r.reason,
                    "row": r.row,
                },
                partitionkey=key,
            )
            for r in parsed.rejected
        ]
        summary = {
            "bucket": bucket,
            "sourceFile": key,
            "recordCount": len(parsed.records),
            "rejectedCount": len(parsed.rejected),
            "location": f"s3://{bucket}/{target}",
        }
        return [*emitted, ctx.derive(type=CSV_PROCESSED, data=summary, partitionkey=key)]

    @app.on(
        _uploads(outputs), _is_image(), name="images", emits=[IMAGE_METADATA, THUMBNAILS_CREATED]
    )
    async def images(event: Event) -> list[Event]:
        upload = Upload.of(event)
        found = await store.get(upload.bucket, upload.key, max_bytes=config.max_object_bytes)
        image, rendered = await asyncio.to_thread(_render, found.body)
        info = {"bucket": upload.bucket, "original_key": upload.key}
        metadata_event = upload.event(IMAGE_METADATA, {**info, **image})
        made = []
        for width, height, body in rendered:
            target = f"thumbnails/{width}x{height}/{posixpath.splitext(upload.key)[0]}.jpg"
            source = {
                "source": quote(f"s3://{upload.bucket}/{upload.key}"),
                "source-etag": upload.etag,
            }
            await store.put(
                config.thumbnails_bucket, target, body, content_type="image/jpeg", metadata=source
            )
            location = f"s3://{config.thumbnails_bucket}/{target}"
            made.append({"location": location, "width": width, "height": height})
        created = upload.event(THUMBNAILS_CREATED, {**info, "thumbnails": made})
        return [metadata_event, created]

    return app


def _uploads(outputs: str) -> dict[str, Any]:
    """Objects created outside the outputs' prefixes (a new dict per use: the generated chart
    values then carry no YAML anchors)."""
    created = any_of(
        prefix(type="com.amazonaws.s3.ObjectCreated:"),  # S3
        prefix(type="com.amazonaws.s3.s3:ObjectCreated:"),  # MinIO's eventName keeps "s3:"
    )
    return all_of(created, not_(prefix(subject=outputs)), not_(prefix(subject="thumbnails/")))


def _is_image() -> dict[str, Any]:
    return any_of(*(suffix(subject=s) for s in IMAGE_SUFFIXES))


@dataclass(frozen=True)
class Upload:
    """The object an S3 notification event names, and ids stable per object version."""

    bucket: str
    key: str
    size: int
    etag: str
    sequencer: str

    @classmethod
    def of(cls, event: Event) -> Upload:
        try:
            s3 = event.data["s3"]
            obj = s3["object"]
            return cls(
                str(s3["bucket"]["name"]),
                str(event.subject),  # the decoded key (data keeps S3's URL-encoded text)
                int(obj.get("size", 0)),
                str(obj.get("eTag", "")),
                str(obj.get("sequencer", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidEventError(f"not an S3 object notification: {exc!r}") from exc

    def event(self, type_: str, data: dict[str, Any]) -> Event:
        """An event whose id is fixed by (type, bucket, key, eTag, sequencer)."""
        seed = "\x00".join((type_, self.bucket, self.key, self.etag, self.sequencer))
        return Event.create(
            type=type_,
            source=SOURCE,
            id=str(uuid.uuid5(VERSION_NAMESPACE, seed)),
            data=data,
            partitionkey=self.key,
        )


def _render(body: bytes) -> tuple[dict[str, Any], list[tuple[int, int, bytes]]]:
    image = imaging.read_image(body)
    info = imaging.metadata(image, len(body))
    return info, [(w, h, imaging.jpeg(small)) for w, h, small in imaging.renditions(image)]


def from_settings(settings: FilesSettings) -> App:
    store: ObjectStore
    if settings.use_s3:
        import boto3  # type: ignore[import-untyped]

        client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region
        )
        store = S3ObjectStore(client)
    else:
        store = DEV_STORE
    return create_app(store, settings=settings)


DEV_STORE: Final = MemoryObjectStore()  # tidal dev's bucket contents (demo.py uploads into it)
app = from_settings(FilesSettings())
