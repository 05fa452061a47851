"""Object store access over boto3: never-overwriting puts, reads, listings, deletes.

`StoreConfig` is what the ``--bucket --prefix --region --endpoint --path-style`` and encryption
flags say; `ObjectStore` is the client every data-plane command uses. Segments are written with
``If-None-Match: *`` so an existing object is never replaced; manifests and owner markers (small,
rewritten as a run progresses) with a plain put. Server-side encryption (AES256 / aws:kms) is
asked for on every put; client-side encryption (`tidal_data.crypto`) wraps the bytes. With
``object_lock_mode`` every object is written under S3 Object Lock (GOVERNANCE or COMPLIANCE
retention for ``object_lock_days``): a deletion then only adds a delete marker, and no
credentials can destroy a version before its retention ends (compliance) or without the bypass
permission (governance).
Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from tidal.observability import redact_url
from tidal_data.crypto import Cipher
from tidal_data.errors import StoreError, StoreUnreachable

SseAlgorithm = Literal["AES256", "aws:kms"]
LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
DELETE_BATCH: Final = 1000


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """Where objects go and how they are encrypted."""

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint: str | None = None
    path_style: bool = False
    sse_algorithm: SseAlgorithm | None = None
    sse_kms_key_id: str | None = None
    cipher: Cipher | None = None
    object_lock_mode: LockMode | None = None
    object_lock_days: int = 0

    def describe(self) -> str:
        where = f" at {redact_url(self.endpoint)}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class AlreadyExists(Exception):
    """A never-overwrite put found an object under that key."""


def _client(config: StoreConfig) -> Any:
    options = Config(
        s3={"addressing_style": "path" if config.path_style else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=16,
    )
    return boto3.session.Session().client(
        "s3", region_name=config.region, endpoint_url=config.endpoint, config=options
    )


class ObjectStore:
    """One bucket and prefix; every key given to it is relative to the prefix."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._s3 = _client(config)

    def _key(self, key: str) -> str:
        return self.config.prefix + key

    def _fail(self, exc: Exception, what: str) -> Exception:
        where = self.config.describe()
        if isinstance(exc, EndpointConnectionError | BotoConnectionError):
            return StoreUnreachable(f"{what}: cannot reach {where}: {exc}")
        if isinstance(exc, NoCredentialsError):
            return StoreError(f"{what}: {where}: {exc}", reason="StoreNoCredentials")
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId"):
                return StoreError(f"{what}: {where}: {code}", reason=f"Store{code}")
        return StoreError(f"{what}: {where}: {exc}")

    def _put_args(self, key: str, data: bytes) -> dict[str, Any]:
        full = self._key(key)
        body = self.config.cipher.seal(data, object_key=full) if self.config.cipher else data
        args: dict[str, Any] = {"Bucket": self.config.bucket, "Key": full, "Body": body}
        if self.config.sse_algorithm:
            args["ServerSideEncryption"] = self.config.sse_algorithm
            if self.config.sse_kms_key_id:
                args["SSEKMSKeyId"] = self.config.sse_kms_key_id
        if self.config.object_lock_mode:
            until = datetime.now(UTC) + timedelta(days=self.config.object_lock_days)
            args["ObjectLockMode"] = self.config.object_lock_mode
            args["ObjectLockRetainUntilDate"] = until
        return args

    def put_new(self, key: str, data: bytes, *, metadata: dict[str, str] | None = None) -> bytes:
        """Store ``data`` under ``key`` unless an object is already there (`AlreadyExists`);
        returns the bytes as stored (encrypted when client-side encryption is on)."""
        args = self._put_args(key, data)
        args["IfNoneMatch"] = "*"
        if metadata:
            args["Metadata"] = metadata
        try:
            self._s3.put_object(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise AlreadyExists(key) from exc
            raise self._fail(exc, f"writing {key}") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, f"writing {key}") from exc
        body: bytes = args["Body"]
        return body

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what is there (manifests)."""
        try:
            self._s3.put_object(**self._put_args(key, data))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, f"writing {key}") from exc

    def get_raw(self, key: str) -> bytes | None:
        """The bytes as stored (still encrypted), or None when there is no such object."""
        try:
            response = self._s3.get_object(Bucket=self.config.bucket, Key=self._key(key))
            data: bytes = response["Body"].read()
            return data
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail(exc, f"reading {key}") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, f"reading {key}") from exc

    def reveal(self, key: str, stored: bytes) -> bytes:
        """Stored bytes -> plain bytes (decrypts under client-side encryption)."""
        cipher = self.config.cipher
        return cipher.open(stored, object_key=self._key(key)) if cipher else stored

    def get(self, key: str) -> bytes | None:
        stored = self.get_raw(key)
        return None if stored is None else self.reveal(key, stored)

    def head_metadata(self, key: str) -> dict[str, str]:
        try:
            response = self._s3.head_object(Bucket=self.config.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, f"reading {key}") from exc
        metadata: dict[str, str] = response.get("Metadata", {})
        return metadata

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under ``prefix`` (relative keys), in key order."""
        paginator = self._s3.get_paginator("list_objects_v2")
        strip = len(self.config.prefix)
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"][strip:], int(item["Size"]))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, f"listing {prefix or '/'}") from exc

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self._key(k)} for k in keys[start : start + DELETE_BATCH]]
            try:
                response = self._s3.delete_objects(
                    Bucket=self.config.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(exc, "deleting objects") from exc
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StoreError(f"deleting {first.get('Key')}: {first.get('Message')}")

    def check(self) -> None:
        """Fail early (unreachable, no such bucket, denied) before any work is done."""
        try:
            self._s3.head_bucket(Bucket=self.config.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                where = self.config.describe()
                raise StoreError(f"no bucket {where}", reason="StoreNoSuchBucket") from exc
            raise self._fail(exc, "opening the bucket") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "opening the bucket") from exc
        if self.config.object_lock_mode:
            self._check_lock()

    def _check_lock(self) -> None:
        """Object Lock asked for: the bucket must have it enabled (it is set at creation)."""
        try:
            found = self._s3.get_object_lock_configuration(Bucket=self.config.bucket)
            enabled = found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except ClientError:
            enabled = None
        except BotoCoreError as exc:
            raise self._fail(exc, "reading the bucket's Object Lock") from exc
        if enabled != "Enabled":
            raise StoreError(
                f"{self.config.describe()}: Object Lock is not enabled on the bucket (it can "
                "only be enabled when the bucket is created)",
                reason="StoreObjectLockDisabled",
            )
