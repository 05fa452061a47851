"""Kafka protocol binding: CloudEvents <-> record key, value and headers (binary or structured).

Pure: the Kafka transport converts aiokafka's header tuples at its edge with `headers_from_list` /
`headers_to_list` and calls `from_record` / `to_record`. ``partitionkey`` <-> record key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from cloudevents.core.bindings import kafka as sdk_kafka

from tidal.bindings.formats import FORMAT
from tidal.errors import InvalidEventError
from tidal.events import Event

KafkaMessage = sdk_kafka.KafkaMessage
Mode = Literal["binary", "structured"]


def to_record(event: Event, *, mode: Mode = "binary") -> KafkaMessage:
    """Encode an event as a Kafka record; the key is its ``partitionkey`` (or None)."""
    if mode == "structured":
        return sdk_kafka.to_structured(event, FORMAT)
    return sdk_kafka.to_binary(event, FORMAT)


def from_record(message: KafkaMessage) -> Event:
    """Decode a Kafka record (either mode) or raise `InvalidEventError` saying why."""
    headers = {k.lower(): v for k, v in message.headers.items()}
    structured = headers.get("content-type", b"").startswith(b"application/cloudevents")
    if not structured and "ce_specversion" not in headers:
        raise InvalidEventError("record is not a CloudEvent: no ce_specversion header")
    try:
        event = sdk_kafka.from_kafka(message, FORMAT, Event)
    except InvalidEventError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"record is not a valid CloudEvent: {exc}") from exc
    assert isinstance(event, Event)
    return event


def headers_from_list(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, bytes]:
    """aiokafka's list of (name, value) tuples -> a dict (last one wins, None -> b'')."""
    return {name: value or b"" for name, value in headers}


def headers_to_list(headers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """A header dict -> aiokafka's list of tuples."""
    return list(headers.items())
