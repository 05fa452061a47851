"""Decoding a fetched record into its event, once for every subscription of a consumer group.

`GroupWorker` feeds the records of a source partition to each subscription of its group; when
there are several it wraps each record in a `SharedRecord` first (`Fanout.feed`), and
`RecordHandler` asks `decoded` for the event: a shared record decodes on the first ask and
hands every later subscription the same `Event` (or raises the same `InvalidEventError`).
Handlers therefore share the event: tidal's stages never change it, and a handler that wants
to change ``data`` copies it first (docs/kafka.md).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from tidal._bindings.kafka import from_consumed
from tidal._errors import InvalidEventError
from tidal._events import Event
from tidal._idempotency.copies import RUN_HEADER, mark_rerun
from tidal._transports.kafka.records import ConsumedRecord


class SharedRecord:
    """A fetched record read by several subscriptions, its event decoded at most once."""

    __slots__ = ("_error", "_event", "headers", "key", "offset", "partition", "topic", "value")

    def __init__(self, record: ConsumedRecord) -> None:
        self.topic = record.topic
        self.partition = record.partition
        self.offset = record.offset
        self.key = record.key
        self.value = record.value
        self.headers: Sequence[tuple[str, bytes]] = record.headers
        self._event: Event | None = None
        self._error: InvalidEventError | None = None

    def event(self) -> Event:
        """The record's event, decoded on the first call; raises what decoding raised."""
        if self._event is not None:
            return self._event
        if self._error is not None:  # a copy: one instance raised twice grows its traceback
            raise copy.copy(self._error) from None
        try:
            self._event = decode(self)
        except InvalidEventError as exc:
            self._error = exc
            raise
        return self._event


def decoded(record: ConsumedRecord) -> Event:
    """The event of ``record``: a `SharedRecord`'s, decoded once, or decoded now."""
    if type(record) is SharedRecord:
        return record.event()
    return decode(record)


def decode(record: ConsumedRecord) -> Event:
    """The record's event, noted as a run's copy (`mark_rerun`) when a restore, replay or
    re-drive marked the record: where its first delivery was dead-lettered, it runs again."""
    event = from_consumed(record.headers, record.key, record.value)
    if any(name == RUN_HEADER for name, _ in record.headers):
        mark_rerun(event)
    return event
