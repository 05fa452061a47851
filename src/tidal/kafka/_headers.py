"""The names tidal puts on Kafka records besides the CloudEvents binding's ``ce_*`` headers.

`tidal._transports.kafka.fitting` writes the claim-check and oversize headers on a retry record
or dead letter too large for its topic; the data plane (``tidal dlq``) reads them back, as it
reads the run marker (`tidal._idempotency.copies.RUN_HEADER`) a restore or re-drive puts on the
copies it produces. Header names are lowercase, as the binding writes its own.
"""

from __future__ import annotations

from typing import Final

from tidal._idempotency.copies import RUN_HEADER

CLAIM: Final = "tidal-claim"
"""The claim-check reference (``s3://<bucket>/<prefix>sha256/<hex>``) of a value moved out."""
CLAIM_BYTES: Final = "tidal-claim-bytes"
CLAIM_SHA256: Final = "tidal-claim-sha256"
CLAIM_HEADERS: Final = frozenset({CLAIM, CLAIM_BYTES, CLAIM_SHA256})
OVERSIZE: Final = "tidal-oversize"
"""What was left out of a record too large for its topic, and why."""

__all__ = [
    "CLAIM",
    "CLAIM_BYTES",
    "CLAIM_HEADERS",
    "CLAIM_SHA256",
    "OVERSIZE",
    "RUN_HEADER",
]
