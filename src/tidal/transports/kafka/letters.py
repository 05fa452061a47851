"""Dead-letter records: the original key, value and headers plus the failure, for the DLQ topic.

The record handler calls `event_letter` when delivery of a CloudEvent has failed for good and
`invalid_letter` when a record is not a CloudEvent at all. Both keep the record as it was read
(tidal's own retry headers removed) and add the failure extensions of `tidal.deadletters`, with
the record's origin as ``tidaltopic`` / ``tidalpartition`` / ``tidaloffset``:

- a binary-mode event keeps its value byte for byte and gains ``ce_<extension>`` headers, which
  is how the binding carries extension attributes, so reading the letter back as a CloudEvent
  yields the original event plus the failure extensions;
- a structured-mode event is re-encoded with the extensions inside its JSON (the attributes
  live in the value there);
- a record that is not a CloudEvent keeps key, value and headers and gains plain headers named
  like the extensions (``tidalerrorclass``, ``tidalerrormessage``, ...), with no ``ce_`` prefix
  since there is no event they could belong to.
"""

from __future__ import annotations

from typing import Any

from tidal.bindings.kafka import to_record
from tidal.deadletters import OFFSET, PARTITION, TOPIC, Failure, dead_letter, failure_extensions
from tidal.events import Event
from tidal.transports.kafka.records import ConsumedRecord, Headers, Origin, OutgoingRecord
from tidal.transports.kafka.retries import original_headers

BINARY_PREFIX = "ce_"


def origin_extensions(origin: Origin) -> dict[str, Any]:
    return {TOPIC: origin.topic, PARTITION: origin.partition, OFFSET: origin.offset}


def is_structured(headers: Headers) -> bool:
    """True when the record carries a structured-mode CloudEvent (attributes in the value)."""
    for name, value in headers:
        if name.lower() == "content-type":
            return value.startswith(b"application/cloudevents")
    return False


def event_letter(
    record: ConsumedRecord, event: Event, failure: Failure, *, topic: str, origin: Origin
) -> OutgoingRecord:
    """The dead letter of a CloudEvent whose delivery failed."""
    headers = original_headers(record.headers)
    extra = origin_extensions(origin)
    if is_structured(headers):
        letter = to_record(dead_letter(event, failure, extra=extra), mode="structured")
        return OutgoingRecord(topic=topic, key=record.key, value=letter.value, headers=headers)
    added = failure_extensions(failure, extra=extra)
    headers = [(n, v) for n, v in headers if n.lower().removeprefix(BINARY_PREFIX) not in added]
    headers += [(BINARY_PREFIX + name, _text(value)) for name, value in added.items()]
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=headers)


def invalid_letter(
    record: ConsumedRecord, failure: Failure, *, topic: str, origin: Origin
) -> OutgoingRecord:
    """The dead letter of a record that could not be read as a CloudEvent."""
    added = failure_extensions(failure, extra=origin_extensions(origin))
    headers = [(n, v) for n, v in original_headers(record.headers) if n not in added]
    headers += [(name, _text(value)) for name, value in added.items()]
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=headers)


def _text(value: Any) -> bytes:
    return str(value).encode("utf-8")
