"""The Kafka worker's claim-check store on an S3 bucket (boto3): `BucketClaims`.

`tidal._transports.kafka.claims.claims_from_settings` builds one when
``TIDAL_KAFKA__CLAIM_CHECK__BUCKET`` is set (importing this module, hence boto3, only then) and
``tidal run --transport kafka`` hands it to the worker, which keeps the value of a retry record
or dead letter too large for its topic here (`tidal._transports.kafka.fitting`). Values are
stored by content (``<prefix>sha256/<hex>``) with never-overwriting puts (``If-None-Match: *``),
so a record retried many times is stored once; objects are never deleted by tidal: give the
bucket a lifecycle rule at least as long as the dead-letter topic's retention. The calls block,
so they run on a worker thread. Credentials come from boto3's usual chain.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Final

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
)

from tidal._errors import ConfigurationError, DependencyUnavailableError
from tidal._redaction import redact_url
from tidal._settings import ClaimCheckSettings
from tidal._transports.kafka.claims import ClaimMissing

STORED_ALREADY: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
NOT_FOUND: Final = frozenset({"NoSuchKey", "404"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


class BucketClaims:
    """A `PayloadStore` over one bucket and prefix."""

    def __init__(self, settings: ClaimCheckSettings) -> None:
        if settings.bucket is None:
            raise ConfigurationError("the claim-check store needs a bucket")
        self.bucket, self.prefix = settings.bucket, settings.prefix
        self.base = f"s3://{self.bucket}/{self.prefix}"
        where = f" at {redact_url(settings.endpoint)}" if settings.endpoint else ""
        self.where = f"{self.base}{where}"
        config = Config(
            s3={"addressing_style": "path" if settings.path_style else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        self._s3: Any = boto3.session.Session().client(
            "s3", region_name=settings.region, endpoint_url=settings.endpoint, config=config
        )

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise ConfigurationError(f"claim-check store {self.where}: {_code(exc)}") from exc
        except EndpointConnectionError as exc:
            raise DependencyUnavailableError(
                f"claim-check store {self.where}: {exc}", dependency="s3"
            ) from exc
        except BotoCoreError as exc:
            raise ConfigurationError(f"claim-check store {self.where}: {exc}") from exc

    async def put(self, data: bytes) -> str:
        key = f"{self.prefix}sha256/{hashlib.sha256(data).hexdigest()}"
        await asyncio.to_thread(self._put_new, key, data)
        return f"s3://{self.bucket}/{key}"

    def _put_new(self, key: str, data: bytes) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if _code(exc) not in STORED_ALREADY:  # else: the same bytes, from an earlier attempt
                raise

    async def get(self, reference: str) -> bytes:
        if not reference.startswith(self.base):
            raise ClaimMissing(f"{reference} is not in {self.base}")
        key = reference.removeprefix(f"s3://{self.bucket}/")
        return await asyncio.to_thread(self._get, key, reference)

    def _get(self, key: str, reference: str) -> bytes:
        try:
            data: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in NOT_FOUND:
                raise ClaimMissing(reference) from exc
            raise
        return data
