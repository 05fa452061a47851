"""The Kafka worker's claim-check store on the archive's object store (`ObjectStore`).

`tidal run --transport kafka` builds one with `claims_from_settings` when
``TIDAL_KAFKA__CLAIM_CHECK__BUCKET`` is set and hands it to the worker, which keeps the value of
a retry record or dead letter too large for its topic here (`tidal.transports.kafka.fitting`).
Values are stored by content (``<prefix>sha256/<hex>``) with never-overwriting puts, so a record
retried many times is stored once; objects are never deleted by tidal: give the bucket a
lifecycle rule at least as long as the dead-letter topic's retention.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import suppress

from tidal.archive.store import AlreadyExists, ObjectStore, StoreConfig
from tidal.settings import ClaimCheckSettings
from tidal.transports.kafka.claims import ClaimMissing, PayloadStore


class ObjectStoreClaims:
    """A `PayloadStore` over one bucket and prefix (boto3 calls run on a worker thread)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        config = store.config
        self._base = f"s3://{config.bucket}/{config.prefix}"

    async def check(self) -> None:
        await asyncio.to_thread(self.store.check)

    async def put(self, data: bytes) -> str:
        key = f"sha256/{hashlib.sha256(data).hexdigest()}"
        with suppress(AlreadyExists):  # the same bytes, stored by an earlier attempt
            await asyncio.to_thread(self.store.put_new, key, data)
        return self._base + key

    async def get(self, reference: str) -> bytes:
        if not reference.startswith(self._base):
            raise ClaimMissing(f"{reference} is not in {self._base}")
        data = await asyncio.to_thread(self.store.get, reference.removeprefix(self._base))
        if data is None:
            raise ClaimMissing(reference)
        return data


def claims_from_settings(settings: ClaimCheckSettings) -> PayloadStore | None:
    """The configured store, or None when no bucket is set (claim-check off)."""
    if settings.bucket is None:
        return None
    config = StoreConfig(
        bucket=settings.bucket,
        prefix=settings.prefix,
        region=settings.region,
        endpoint=settings.endpoint,
        path_style=settings.path_style,
    )
    return ObjectStoreClaims(ObjectStore(config))
