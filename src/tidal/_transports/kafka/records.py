"""The shapes of Kafka records as the worker sees them, free of any client library's types.

`ConsumedRecord` is what a fetch returns (aiokafka's ``ConsumerRecord`` satisfies it);
`OutgoingRecord` is what the worker produces to a retry or dead-letter topic; `Origin` names
where a record was first read, so retries and dead letters can point back at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Headers = list[tuple[str, bytes]]


class ConsumedRecord(Protocol):
    """One fetched record (the attributes of aiokafka's ``ConsumerRecord`` tidal reads)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, kw_only=True)
class OutgoingRecord:
    """A record to produce: topic, key, value and headers (aiokafka's list of tuples)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True)
class Origin:
    """Where a record was first read from: its source topic, partition and offset."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, record: ConsumedRecord) -> Origin:
        return cls(record.topic, record.partition, record.offset)
