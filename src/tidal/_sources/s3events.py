"""S3 event notifications -> CloudEvents, per the CloudEvents AWS S3 adapter.

The mapping is cloudevents/spec ``cloudevents/adapters/aws-s3.md`` (commit c2845a49, vendored
in tests/conformance/aws-s3/), one CloudEvent per notification record:

| attribute         | value                                                              |
|-------------------|--------------------------------------------------------------------|
| `id`              | ``responseElements.x-amz-request-id`` + "." + ``...x-amz-id-2``    |
| `source`          | ``eventSource`` + "." + ``awsRegion`` + "." + the bucket's name    |
| `type`            | "com.amazonaws.s3." + ``eventName``                                |
| `datacontenttype` | ``application/json``                                               |
| `subject`         | ``s3.object.key``                                                  |
| `time`            | ``eventTime``                                                      |
| `data`            | the S3 event record, unchanged                                     |

The adapter names the bucket ``s3.buckets.name``; the record's field is ``s3.bucket.name`` (the
AWS notification structure). Two decisions the adapter leaves open, documented in
docs/events.md: S3 URL-encodes the key in a notification (form encoding, ``+`` for a space), so
`subject` carries the decoded key, the object's real name (``data`` keeps the record as sent);
and ``partitionkey`` is the decoded key, so one object's events stay in order on Kafka. The id
is a pure function of the record, so a redelivered notification maps to the same (source, id)
and downstream idempotency absorbs it. A record without the two response elements (some
S3-compatible stores and moto omit them) gets a name-based UUID of its bucket, key, event name
and time, ``sequencer`` and ``eTag`` instead, as stable.

Called by `tidal._sources.sqs`, `tidal._sources.webhook`, and services' demos (via ``tidal``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote_plus

from tidal._errors import InvalidEventError
from tidal._events import Event, Timestamp

TYPE_PREFIX: Final = "com.amazonaws.s3."
FALLBACK_ID_NAMESPACE: Final = uuid.UUID("2f1b8d52-7a0e-5c3b-9a57-5d8f3c1e6b40")


def object_key(record: Mapping[str, Any]) -> str:
    """The record's object key, URL-decoded (``+`` is a space, ``%2B`` a plus)."""
    return unquote_plus(_field(record, "s3", "object", "key"))


def record_event(record: Mapping[str, Any]) -> Event:
    """The CloudEvent of one S3 event record (`InvalidEventError` if a field is missing)."""
    if not isinstance(record, Mapping):
        raise InvalidEventError("an S3 event record must be a JSON object")
    bucket = _field(record, "s3", "bucket", "name")
    key = object_key(record)
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": _event_id(record, bucket, key),
        "source": f"{_field(record, 'eventSource')}.{_field(record, 'awsRegion')}.{bucket}",
        "type": TYPE_PREFIX + _field(record, "eventName"),
        "datacontenttype": "application/json",
        "subject": key,
        "time": _time(_field(record, "eventTime")),
        "partitionkey": key,
    }
    return Event(attributes, dict(record))


def notification_events(notification: Mapping[str, Any]) -> list[Event]:
    """The CloudEvents of an S3 notification's ``Records`` (none for S3's ``s3:TestEvent``)."""
    if not isinstance(notification, Mapping):
        raise InvalidEventError("an S3 notification must be a JSON object")
    if notification.get("Event") == "s3:TestEvent":
        return []
    records = notification.get("Records")
    if not isinstance(records, list):
        raise InvalidEventError("an S3 notification needs a 'Records' list")
    return [record_event(record) for record in records]


def parse_notification(body: str | bytes) -> list[Event]:
    """`notification_events` of a JSON text (an SQS message body, a webhook request body)."""
    try:
        notification = json.loads(body)
    except ValueError as exc:
        raise InvalidEventError(f"an S3 notification must be JSON: {exc}") from exc
    return notification_events(notification)


def _event_id(record: Mapping[str, Any], bucket: str, key: str) -> str:
    elements = record.get("responseElements")
    if not isinstance(elements, Mapping):
        elements = {}
    request_id, host_id = elements.get("x-amz-request-id"), elements.get("x-amz-id-2")
    if isinstance(request_id, str) and isinstance(host_id, str) and request_id and host_id:
        return f"{request_id}.{host_id}"
    s3 = record.get("s3") or {}
    obj = s3.get("object") or {}
    parts = (
        bucket,
        key,
        str(record.get("eventName", "")),
        str(record.get("eventTime", "")),
        str(obj.get("sequencer", "")),
        str(obj.get("eTag", "")),
    )
    return str(uuid.uuid5(FALLBACK_ID_NAMESPACE, "\x00".join(parts)))


def _field(record: Mapping[str, Any], *path: str) -> str:
    value: Any = record
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            raise InvalidEventError(f"S3 event record has no '{'.'.join(path)}'")
        value = value[name]
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"S3 event record's '{'.'.join(path)}' must be a non-empty string")
    return value


def _time(text: str) -> Timestamp:
    try:
        return Timestamp.parse(text, datetime.fromisoformat(text))
    except ValueError as exc:
        raise InvalidEventError(f"S3 event record's eventTime is not a timestamp: {text}") from exc
