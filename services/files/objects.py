"""Object storage for the files service: read an upload, write an output.

`ObjectStore` is the port; `S3ObjectStore` runs boto3 (synchronous) in a thread and turns its
errors into what the dispatcher acts on: a missing object or bucket is an `InvalidEventError`
(the notification names something that is not there: retrying cannot help), anything else a
`RetryableError`. `MemoryObjectStore` is `tidal dev`'s store and the unit tests'.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from tidal import InvalidEventError, RetryableError

MISSING: Final = frozenset({"NoSuchKey", "NoSuchBucket", "404"})
SLOW_DOWN: Final = "SlowDown"  # S3's error code for 503 "Please reduce your request rate."


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


class ObjectStore(Protocol):
    async def get(self, bucket: str, key: str, *, max_bytes: int) -> StoredObject:
        """The object's bytes (`InvalidEventError` if absent or over ``max_bytes``)."""
        ...

    async def put(
        self, bucket: str, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        """Write (or overwrite with the same bytes: outputs are pure functions of the input)."""
        ...


class MemoryObjectStore:
    """Buckets as dicts; ``puts`` counts writes (tests check retries rewrite, never add).

    `slow_down` makes an object's next reads answer as S3 does when throttling (503
    ``SlowDown``), with the `RetryableError` `S3ObjectStore` raises for it: `tidal dev`'s demo
    throttles one upload that way, so its live view shows a retry and its success."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.puts = 0
        self.throttled: dict[tuple[str, str], int] = {}

    def slow_down(self, bucket: str, key: str, *, reads: int = 1) -> None:
        """The next ``reads`` reads of ``s3://bucket/key`` fail with S3's ``SlowDown``."""
        self.throttled[(bucket, key)] = reads

    async def get(self, bucket: str, key: str, *, max_bytes: int) -> StoredObject:
        if self.throttled.get((bucket, key), 0) > 0:
            self.throttled[(bucket, key)] -= 1
            raise RetryableError(f"reading s3://{bucket}/{key} failed: {SLOW_DOWN}")
        found = self.objects.get((bucket, key))
        if found is None:
            raise InvalidEventError(f"s3://{bucket}/{key} does not exist")
        _check_size(bucket, key, len(found.body), max_bytes)
        return found

    async def put(
        self, bucket: str, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        self.objects[(bucket, key)] = StoredObject(body, etag, dict(metadata), content_type)
        self.puts += 1


class S3ObjectStore:
    """An S3 (or S3-compatible) store behind a boto3 client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def get(self, bucket: str, key: str, *, max_bytes: int) -> StoredObject:
        return await asyncio.to_thread(self._get, bucket, key, max_bytes)

    def _get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
            _check_size(bucket, key, int(response["ContentLength"]), max_bytes)
            body = response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise InvalidEventError(f"s3://{bucket}/{key} does not exist") from exc
            raise RetryableError(f"reading s3://{bucket}/{key} failed: {code}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"reading s3://{bucket}/{key} failed: {exc}") from exc
        return StoredObject(
            body,
            str(response.get("ETag", "")).strip('"'),
            dict(response.get("Metadata", {})),
            str(response.get("ContentType", "application/octet-stream")),
        )

    async def put(
        self, bucket: str, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        try:
            await asyncio.to_thread(
                self._client.put_object,
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=dict(metadata),
                ServerSideEncryption="AES256",
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"writing s3://{bucket}/{key} failed: {exc}") from exc


def _check_size(bucket: str, key: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InvalidEventError(f"s3://{bucket}/{key} is {size} bytes, over {max_bytes}")
