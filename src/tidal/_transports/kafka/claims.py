"""The claim-check port: where the Kafka worker keeps a value too large for its retry or DLQ topic.

`tidal._transports.kafka.fitting.Outlet` puts the value of an oversized retry record or dead
letter here and produces the record with a reference instead (the claim-check pattern); it reads
the value back when the retry record comes round. The S3 implementation is
`tidal._transports.kafka.bucket.BucketClaims`, built by ``tidal run`` with `claims_from_settings`
from ``TIDAL_KAFKA__CLAIM_CHECK__*``; tests may pass any object with these methods.
"""

from __future__ import annotations

from typing import Protocol

from tidal._errors import ConfigurationError
from tidal._settings import ClaimCheckSettings


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


def claims_from_settings(settings: ClaimCheckSettings) -> PayloadStore | None:
    """The configured S3 store, or None when no bucket is set (claim-check off; boto3 is then
    never imported)."""
    if settings.bucket is None:
        return None
    try:
        from tidal._transports.kafka.bucket import BucketClaims
    except ImportError as exc:
        raise ConfigurationError(
            f"TIDAL_KAFKA__CLAIM_CHECK__BUCKET needs boto3 ({exc}): pip install 'tidal[claims]'"
        ) from exc
    return BucketClaims(settings)
