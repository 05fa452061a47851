"""Retry records: a failed record re-produced to the subscription's retry topic, with its state.

The record handler writes one with `retry_record` when an attempt fails and may be retried, and
reads the state back with `RetryState.from_headers` when the record comes round again. Because the
attempt count and the not-before time travel in the record's headers, they survive a crash, a
restart and a rebalance: whichever worker reads the record next continues the count.

Headers (values are UTF-8 text)::

    tidal-attempts        attempts made so far (the next one is this + 1)
    tidal-not-before      when the next attempt is due, epoch milliseconds (wall clock)
    tidal-first-failure   RFC 3339 time of the first failed attempt
    tidal-origin-topic    where the record was first read: topic, partition, offset
    tidal-origin-partition
    tidal-origin-offset
    tidal-last-error      the last attempt's error, truncated (for people reading the topic)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tidal._bindings.formats import encode_time, parse_time
from tidal._deadletters import truncate
from tidal._errors import InvalidEventError
from tidal._transports.kafka.records import ConsumedRecord, Headers, Origin, OutgoingRecord

ATTEMPTS: Final = "tidal-attempts"
NOT_BEFORE: Final = "tidal-not-before"
FIRST_FAILURE: Final = "tidal-first-failure"
ORIGIN_TOPIC: Final = "tidal-origin-topic"
ORIGIN_PARTITION: Final = "tidal-origin-partition"
ORIGIN_OFFSET: Final = "tidal-origin-offset"
LAST_ERROR: Final = "tidal-last-error"
RETRY_HEADERS: Final = frozenset(
    {ATTEMPTS, NOT_BEFORE, FIRST_FAILURE, ORIGIN_TOPIC, ORIGIN_PARTITION, ORIGIN_OFFSET, LAST_ERROR}
)
MAX_ERROR_BYTES: Final = 512


@dataclass(frozen=True, kw_only=True)
class RetryState:
    """How far delivery of one record has got: attempts made, next due time, first failure."""

    attempts: int
    not_before: datetime
    first_failure: datetime
    origin: Origin

    def to_headers(self) -> Headers:
        due_ms = int(self.not_before.timestamp() * 1000)
        return [
            (ATTEMPTS, str(self.attempts).encode()),
            (NOT_BEFORE, str(due_ms).encode()),
            (FIRST_FAILURE, encode_time(self.first_failure).encode()),
            (ORIGIN_TOPIC, self.origin.topic.encode()),
            (ORIGIN_PARTITION, str(self.origin.partition).encode()),
            (ORIGIN_OFFSET, str(self.origin.offset).encode()),
        ]

    @classmethod
    def from_headers(cls, headers: Mapping[str, bytes]) -> RetryState:
        """Read the state back; `InvalidEventError` names what is missing or malformed."""
        try:
            due_ms = int(headers[NOT_BEFORE])
            return cls(
                attempts=int(headers[ATTEMPTS]),
                not_before=datetime.fromtimestamp(due_ms / 1000, tz=UTC),
                first_failure=parse_time(headers[FIRST_FAILURE].decode()),
                origin=Origin(
                    headers[ORIGIN_TOPIC].decode(),
                    int(headers[ORIGIN_PARTITION]),
                    int(headers[ORIGIN_OFFSET]),
                ),
            )
        except KeyError as exc:
            raise InvalidEventError(f"retry record lacks the {exc.args[0]} header") from exc
        except (ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:  # a due time
            # past year 9999 is a ValueError, OSError or OverflowError by its size
            raise InvalidEventError(f"retry record has a malformed tidal header: {exc}") from exc


def original_headers(headers: Sequence[tuple[str, bytes]]) -> Headers:
    """A record's headers without tidal's retry headers: what the producer originally sent."""
    return [(name, value) for name, value in headers if name not in RETRY_HEADERS]


def retry_record(
    record: ConsumedRecord, *, topic: str, state: RetryState, error: BaseException
) -> OutgoingRecord:
    """The record to produce to ``topic``: original key, value and headers plus ``state``."""
    message = truncate(f"{type(error).__name__}: {error}", MAX_ERROR_BYTES)
    headers = [
        *original_headers(record.headers),
        *state.to_headers(),
        (LAST_ERROR, message.encode()),
    ]
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=headers)
