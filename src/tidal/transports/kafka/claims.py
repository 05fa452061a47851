"""The claim-check port: where the Kafka worker keeps a value too large for its retry or DLQ topic.

`tidal.transports.kafka.fitting.Outlet` puts the value of an oversized retry record or dead
letter here and produces the record with a reference instead (the claim-check pattern); it reads
the value back when the retry record comes round. The object-store implementation is
`tidal.archive.claims.ObjectStoreClaims` (the store the archive uses), built by ``tidal run``
from ``TIDAL_KAFKA__CLAIM_CHECK__*``; tests may pass any object with these methods.
"""

from __future__ import annotations

from typing import Protocol


class ClaimMissing(LookupError):
    """No value is stored under a reference (expired by the bucket's lifecycle, or deleted)."""


class PayloadStore(Protocol):
    """Stores values by content and gives them back by reference."""

    async def check(self) -> None:
        """Fail now (unreachable, no such bucket, denied) rather than at the first claim."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` (never overwriting) and return its reference (an ``s3://`` URL)."""
        ...

    async def get(self, reference: str) -> bytes:
        """The value stored under ``reference``; `ClaimMissing` when there is none."""
        ...
