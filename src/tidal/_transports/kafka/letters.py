"""Dead-letter records: the original key, value and headers plus the failure, for the DLQ topic.

The record handler calls `event_letter` when delivery of a CloudEvent has failed for good and
`invalid_letter` when a record is not a CloudEvent at all. Both keep the record as it was read
(tidal's own retry headers removed) and add the failure extensions of `tidal._deadletters`, with
the record's origin as ``tidaltopic`` / ``tidalpartition`` / ``tidaloffset``:

- a binary-mode event keeps its value byte for byte and gains ``ce_<extension>`` headers, which
  is how the binding carries extension attributes, so reading the letter back as a CloudEvent
  yields the original event plus the failure extensions;
- a structured-mode event (labelled by its content-type or, as the binding reads it, not
  labelled at all) keeps its JSON object byte for byte with the extensions appended as
  members (the attributes live in the value there), so nothing it held changes: not the text of
  its ``time``, nor does it gain the ``partitionkey`` a reader derives from the record key
  (kafka-protocol-binding.md 3.1: key mapping MUST NOT modify the event);
- a record that is not a CloudEvent keeps key, value and headers and gains plain headers named
  like the extensions (``tidalerrorclass``, ``tidalerrormessage``, ...), with no ``ce_`` prefix
  since there is no event they could belong to.
"""

from __future__ import annotations

import json
from typing import Any

from tidal._bindings.formats import dumps, loads
from tidal._deadletters import OFFSET, PARTITION, TOPIC, Failure, failure_extensions
from tidal._events import Event
from tidal._transports.kafka.records import ConsumedRecord, Headers, Origin, OutgoingRecord
from tidal._transports.kafka.retries import original_headers

BINARY_PREFIX = "ce_"


def origin_extensions(origin: Origin) -> dict[str, Any]:
    """Where the record was read; the offset as text (a CloudEvents Integer has 32 bits, a
    Kafka offset 64)."""
    return {TOPIC: origin.topic, PARTITION: origin.partition, OFFSET: str(origin.offset)}


def is_structured(headers: Headers, value: bytes | None = None) -> bool:
    """True when the record carries a structured-mode CloudEvent (attributes in the value):
    labelled by its content-type, or unlabelled as the binding reads one (no content-type, no
    ``ce_`` header, a JSON object: Debezium's CloudEventsConverter and the outbox relay)."""
    unlabelled = True
    for name, header in headers:
        lowered = name.lower()
        if lowered == "content-type":
            return header.lower().startswith(b"application/cloudevents")
        if lowered[:3] == BINARY_PREFIX:
            unlabelled = False
    return unlabelled and (value or b"").lstrip()[:1] == b"{"


def event_letter(
    record: ConsumedRecord, event: Event, failure: Failure, *, topic: str, origin: Origin
) -> OutgoingRecord:
    """The dead letter of a CloudEvent whose delivery failed."""
    headers = original_headers(record.headers)
    added = failure_extensions(failure, extra=origin_extensions(origin))
    if is_structured(headers, record.value):
        value = with_members(record.value or b"", added)
        return OutgoingRecord(topic=topic, key=record.key, value=value, headers=headers)
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


def with_members(value: bytes, added: dict[str, Any]) -> bytes:
    """A structured event's JSON object with ``added`` as members: appended to the original
    bytes when it is UTF-8 and holds none of them, else the parsed object re-encoded (which
    still keeps every attribute's text)."""
    obj = loads(value, what="structured-mode record value", envelope=1)
    body = value.rstrip()
    if any(name in obj for name in added) or not body.endswith(b"}") or not _utf8(value):
        return dumps({**obj, **added})
    members = b",".join(json.dumps(name).encode() + b":" + dumps(v) for name, v in added.items())
    inner = body[:-1].rstrip()
    return inner + (b"" if inner.endswith(b"{") else b",") + members + b"}"


def _utf8(value: bytes) -> bool:
    return bool(value) and value[0] not in (0x00, 0xEF, 0xFE, 0xFF) and value[1:2] != b"\x00"


def _text(value: Any) -> bytes:
    return str(value).encode("utf-8")
