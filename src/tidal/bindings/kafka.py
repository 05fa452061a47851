"""Kafka protocol binding: CloudEvents <-> record key, value and headers (binary or structured).

Pure: the Kafka transport converts aiokafka's header tuples at its edge with `headers_from_list` /
`headers_to_list` and calls `from_record` / `to_record`; on its hot path it decodes fetched
records with `from_consumed`, which reads aiokafka's header list directly (one pass, no
intermediate dicts) and gives what `from_record` would. ``partitionkey`` <-> record key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from cloudevents.core.bindings import kafka as sdk_kafka

from tidal.bindings.formats import FORMAT, parse_time
from tidal.errors import InvalidEventError
from tidal.events import PARTITIONKEY, Event, Timestamp

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
        if not structured:
            return _read_binary(headers, message)
        event = sdk_kafka.from_kafka(message, FORMAT, Event)
    except InvalidEventError:
        raise
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"structured-mode record value is not JSON: {exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"record is not a valid CloudEvent: {exc}") from exc
    assert isinstance(event, Event)
    return event


def _read_binary(headers: dict[str, bytes], message: KafkaMessage) -> Event:
    """Binary mode, read directly (the Kafka worker's hot path): what the SDK's reader does,
    without its per-header overhead and with the standard library's RFC 3339 parser first."""
    attributes: dict[str, Any] = {
        name[3:]: value.decode("utf-8") for name, value in headers.items() if name[:3] == "ce_"
    }
    content_type = headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type.decode("utf-8")
    key = message.key
    if key is not None:  # the record key is the partitionkey, as in the SDK
        attributes[PARTITIONKEY] = key.decode("utf-8") if isinstance(key, bytes) else key
    if "time" in attributes:
        attributes["time"] = _parse_time(attributes["time"])
    return Event(attributes, FORMAT.read_data(message.value, attributes.get("datacontenttype")))


# What a header is to the binary reader: an attribute's name, or one of these (upper case: no
# lower-case header name can give them)
_OTHER: Final = "OTHER"  # no attribute
_CONTENT_TYPE: Final = "CONTENT_TYPE"  # content-type: datacontenttype
_CAPITALS: Final = "CAPITALS"  # a name with capitals: `from_record` lowercases, take its path
_NAMES: dict[str, str] = {}  # header name -> the above, for the first `_MAX_NAMES` names seen
_MAX_NAMES: Final = 1024


def _name_of(header: str) -> str:
    if header.lower() != header:
        name = _CAPITALS
    elif header == "content-type":
        name = _CONTENT_TYPE
    else:
        name = header[3:] if header[:3] == "ce_" else _OTHER
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[header] = name
    return name


def from_consumed(
    headers: Sequence[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> Event:
    """`from_record` of a fetched record (aiokafka's header list, key and value): binary mode
    read in one pass over the headers. Structured mode, header names with capitals and
    anything the pass cannot decode go through `from_record` itself: same events, same errors."""
    try:
        event = _read_list(headers, key, value)
    except Exception:  # `from_record` raises what it is, with its own message
        event = None
    return _from_list(headers, key, value) if event is None else event


def _read_list(
    headers: Sequence[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> Event | None:
    """`_read_binary` over the header list; None where `from_record` must decide."""
    attributes: dict[str, Any] = {}
    content_type: bytes | None = None
    names = _NAMES
    for header, raw in headers:
        name = names.get(header) or _name_of(header)
        if name == _OTHER:
            continue
        if name == _CONTENT_TYPE:
            content_type = raw or b""
        elif name == _CAPITALS:
            return None
        else:
            attributes[name] = (raw or b"").decode("utf-8")
    if "specversion" not in attributes:
        return None
    if content_type is not None:
        if content_type.startswith(b"application/cloudevents"):
            return None
        attributes["datacontenttype"] = content_type.decode("utf-8")
    if key is not None:  # the record key is the partitionkey, as in the SDK
        attributes[PARTITIONKEY] = key.decode("utf-8") if isinstance(key, bytes) else key
    if "time" in attributes:
        attributes["time"] = _parse_time(attributes["time"])
    return Event(attributes, FORMAT.read_data(value or b"", attributes.get("datacontenttype")))


def _from_list(
    headers: Sequence[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> Event:
    message = KafkaMessage(headers=headers_from_list(headers), key=key, value=value or b"")
    return from_record(message)


def _parse_time(text: str) -> datetime:
    try:
        parsed = Timestamp.read(text)
    except ValueError:
        return parse_time(text)
    return parsed if parsed.tzinfo is not None else parse_time(text)


def headers_from_list(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, bytes]:
    """aiokafka's list of (name, value) tuples -> a dict (last one wins, None -> b'')."""
    return {name: value or b"" for name, value in headers}


def headers_to_list(headers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """A header dict -> aiokafka's list of tuples."""
    return list(headers.items())
