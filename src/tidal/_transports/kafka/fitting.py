"""Retry records and dead letters that always fit their topic: claim-check, or drop the value.

`RecordHandler` produces every retry record through `Outlet.retry` and every dead letter through
`Outlet.dead_letter`, and restores a claim-checked record (a retry record, or a dead letter
re-driven by ``tidal dlq redrive``) with `Outlet.restore` before it reads it. A retry record is
the original record plus tidal's headers, a dead letter the record plus the failure, so a record
just under the size limit that fails once used to become a record over it:
``MessageSizeTooLargeError``, the worker stopping, and the same again after each restart.

The limit is the smaller of the producer's ``max_request_size`` and the topics'
``max.message.bytes`` (read at start when the broker reports it); each record's size is
estimated exactly as aiokafka's producer does before it sends, and a broker that still answers
``MESSAGE_TOO_LARGE`` lowers the limit and sends the record down the same path. In order:

retry record
    as it is; else its value in the claim-check store (`PayloadStore`) and the record with an
    empty value and a ``tidal-claim`` reference; else (no store, the store failing, or the
    headers alone too large) ``retry`` returns why, and the caller dead-letters the record;
dead letter
    as it is; else its value claim-checked; else its value dropped; else the original headers
    dropped too (the failure and the event's identity are kept). Whatever left the record gets a
    ``tidal-oversize`` header saying what and why, the plain failure headers (a structured-mode
    letter's failure lives in its value) and the origin (topic, partition, offset) that points
    at the original.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from tidal._errors import InvalidEventError
from tidal._transports.kafka.claims import ClaimMissing, PayloadStore
from tidal._transports.kafka.producing import KafkaPublisher
from tidal._transports.kafka.records import ConsumedRecord, Headers, OutgoingRecord
from tidal.kafka._headers import CLAIM, CLAIM_BYTES, CLAIM_HEADERS, CLAIM_SHA256, OVERSIZE

IDENTITY: Final = frozenset({"ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"})
STORE_TRIES: Final = 4
STORE_BACKOFF: Final = 0.25

log = logging.getLogger("tidal.kafka")


def record_size(record: OutgoingRecord) -> int:
    """Bytes of ``record`` in a batch of its own: what aiokafka compares with the limit."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        record.key, record.value, record.headers
    )
    return size


@dataclass(frozen=True)
class Restored:
    """A claim-checked retry record with its value back (a `ConsumedRecord`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class Outlet:
    """Produces retry records and dead letters within ``limit`` bytes."""

    def __init__(
        self, publisher: KafkaPublisher, *, limit: int, claims: PayloadStore | None = None
    ) -> None:
        self.publisher = publisher
        self.limit = limit
        self.claims = claims

    async def retry(self, record: OutgoingRecord) -> str | None:
        """Produce ``record``, claim-checking its value if it is too large; None once the broker
        has it, else why it cannot be produced (the caller dead-letters the event instead)."""
        if await self._send(record):
            return None
        size = record_size(record)
        claimed, why = await self._claimed(record)
        if claimed is not None and await self._send(claimed):
            return None
        return f"the retry record is {size} bytes, over the {self.limit}-byte limit, and {why}"

    async def dead_letter(self, letter: OutgoingRecord, failure: dict[str, Any]) -> None:
        """Produce ``letter`` (``failure``: its failure and origin extensions), shrunk until it
        fits; a letter that fits nowhere (a limit under a few hundred bytes) is raised."""
        if await self._send(letter):
            return
        size = record_size(letter)
        claimed, why = await self._claimed(letter)
        if claimed is not None:
            note = f"record of {size} bytes over the {self.limit}-byte limit; value claim-checked"
            if await self._send(_annotated(claimed, failure, note)):
                return
        note = f"record of {size} bytes over the {self.limit}-byte limit and {why}; value dropped"
        dropped = _annotated(replace(letter, value=b""), failure, note)
        if await self._send(dropped):
            log.warning("dead letter to %s without its value: %s", letter.topic, note)
            return
        bare = [(n, v) for n, v in letter.headers if n.lower() in IDENTITY]
        note += ", original headers dropped"
        last = _annotated(replace(letter, value=b"", headers=bare), failure, note)
        log.warning("dead letter to %s without value or headers: %s", letter.topic, note)
        await self.publisher.send_durably(last)

    @staticmethod
    def claimed(record: ConsumedRecord) -> bool:
        """Whether ``record``'s value is in the claim-check store (a ``tidal-claim`` header)."""
        return any(name == CLAIM for name, _ in record.headers)

    async def restore(self, record: ConsumedRecord) -> ConsumedRecord:
        """``record`` with its claim-checked value back (as it is when it has no claim);
        `InvalidEventError` when the value cannot be had (the record is then dead-lettered,
        its reference kept)."""
        reference = next((v.decode() for n, v in record.headers if n == CLAIM), None)
        if reference is None:
            return record
        claims = self.claims
        if claims is None:
            raise InvalidEventError(f"the record's value is at {reference}: no claim-check store")
        try:
            value: bytes = await _patiently(lambda: claims.get(reference))
        except ClaimMissing as exc:
            raise InvalidEventError(f"the record's value at {reference} is gone") from exc
        except Exception as exc:
            raise InvalidEventError(f"the record's value at {reference}: {exc!r}") from exc
        headers = [(n, v) for n, v in record.headers if n not in CLAIM_HEADERS]
        return Restored(record.topic, record.partition, record.offset, record.key, value, headers)

    async def _claimed(self, record: OutgoingRecord) -> tuple[OutgoingRecord | None, str]:
        """``record`` with its value in the store and a reference in its headers, or why not."""
        if self.claims is None:
            return None, "no claim-check store is configured (TIDAL_KAFKA__CLAIM_CHECK__BUCKET)"
        value, claims = record.value or b"", self.claims
        try:
            reference = await _patiently(lambda: claims.put(value))
        except Exception as exc:
            log.warning("claim-check store failed for a record to %s: %r", record.topic, exc)
            return None, f"the claim-check store failed: {exc!r}"
        headers = [
            *record.headers,
            (CLAIM, reference.encode()),
            (CLAIM_BYTES, str(len(value)).encode()),
            (CLAIM_SHA256, hashlib.sha256(value).hexdigest().encode()),
        ]
        claimed = replace(record, value=b"", headers=headers)
        if record_size(claimed) > self.limit:
            return None, "its headers alone exceed it"
        return claimed, ""

    async def _send(self, record: OutgoingRecord) -> bool:
        """Produce ``record`` (retrying transient errors); False when it is too large."""
        size = record_size(record)
        if size > self.limit:
            return False
        try:
            await self.publisher.send_durably(record)
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
            log.warning(
                "%s refused a record of %d bytes (%r): limit lowered", record.topic, size, exc
            )
            self.limit = min(self.limit, size - 1)
            return False
        return True


def _annotated(record: OutgoingRecord, failure: dict[str, Any], note: str) -> OutgoingRecord:
    """``record`` plus the plain failure headers it lacks and an ``tidal-oversize`` note."""
    present = {name.lower().removeprefix("ce_") for name, _ in record.headers}
    headers: Headers = [
        *record.headers,
        *((n, str(v).encode()) for n, v in failure.items() if n not in present),
        (OVERSIZE, note.encode()),
    ]
    return replace(record, headers=headers)


async def _patiently(call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()``, tried `STORE_TRIES` times with backoff; `ClaimMissing` is not retried."""
    delay = STORE_BACKOFF
    for _ in range(STORE_TRIES - 1):
        try:
            return await call()
        except ClaimMissing:
            raise
        except Exception as exc:
            log.warning("claim-check store: %r; retrying in %.2fs", exc, delay)
        await asyncio.sleep(delay)
        delay *= 2
    return await call()
