"""Kafka protocol binding: CloudEvents <-> record key, value and headers (binary or structured).

Pure: the Kafka transport converts aiokafka's header tuples at its edge with `headers_from_list` /
`headers_to_list` and calls `from_record` / `to_record`; on its hot path it decodes fetched
records with `from_consumed`, which reads aiokafka's header list directly (one pass, no
intermediate dicts) and gives what `from_record` would. Decoding raises `InvalidEventError` and
nothing else, whatever the record holds.

Keys (kafka-protocol-binding.md 3.1): an event's ``partitionkey`` is written as the record key
and stays in the event. Read, a record key that is UTF-8 text fills in ``partitionkey`` when the
event does not carry one (as the official SDKs do); any other key (an 8-byte long from a Java
producer) is left to the record, and the event is delivered all the same.

Attribute values are written as the spec's canonical text (`tidal._attributes.text`), not with
the SDK's ``str()``, which writes a boolean as ``True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

from cloudevents.core.bindings import kafka as sdk_kafka

from tidal._attributes import text, valid_string
from tidal._bindings.formats import FORMAT, dumps, event_from_mapping, event_to_mapping, loads
from tidal._bindings.formats import parse_time as _parse_time
from tidal._errors import InvalidEventError
from tidal._events import PARTITIONKEY, Event

KafkaMessage = sdk_kafka.KafkaMessage
Mode = Literal["binary", "structured"]
STRUCTURED: Final = "application/cloudevents+json"


def to_record(event: Event, *, mode: Mode = "binary") -> KafkaMessage:
    """Encode an event as a Kafka record; the key is its ``partitionkey`` (or None)."""
    key = event.text(PARTITIONKEY)
    if mode == "structured":
        value = dumps(event_to_mapping(event))
        return KafkaMessage(headers={"content-type": STRUCTURED.encode()}, key=key, value=value)
    headers: dict[str, bytes] = {}
    content_type = None
    for name, value in event.get_attributes().items():
        if name == "datacontenttype":
            content_type = value
            headers["content-type"] = value.encode("utf-8")
        else:
            headers["ce_" + name] = text(value).encode("utf-8")
    return KafkaMessage(headers=headers, key=key, value=FORMAT.write_data(event.data, content_type))


def from_record(message: KafkaMessage) -> Event:
    """Decode a Kafka record (either mode) or raise `InvalidEventError` saying why."""
    headers = {k.lower(): v for k, v in message.headers.items()}
    content_type = headers.get("content-type")
    structured = (content_type or b"").lower().startswith(b"application/cloudevents")
    if not structured and "ce_specversion" not in headers and not _unlabelled(headers, message):
        raise InvalidEventError("record is not a CloudEvent: no ce_specversion header")
    try:
        if structured:
            return _read_structured(message)
        if "ce_specversion" not in headers:
            return _read_structured(message, unlabelled=True, content_type=content_type)
        return _read_binary(headers, message)
    except InvalidEventError:
        raise
    except Exception as exc:  # whatever a decoder raises, the record is at fault
        raise InvalidEventError(
            f"record is not a valid CloudEvent: {type(exc).__name__}: {exc}"
        ) from exc


def _unlabelled(headers: dict[str, bytes], message: KafkaMessage) -> bool:
    """A structured event without the binding's content-type (the SDK 1.x writer moves the
    event's ``datacontenttype`` there, cloudevents/kafka/conversion.py ``to_structured``):
    no ``ce_`` header and a value that opens a JSON object. The SDK 2.x reader takes every
    record without ``ce_`` headers as structured; this is that, for JSON objects only."""
    return message.value.lstrip()[:1] == b"{" and not any(name[:3] == "ce_" for name in headers)


def _read_structured(
    message: KafkaMessage, *, unlabelled: bool = False, content_type: bytes | None = None
) -> Event:
    obj = loads(message.value, what="structured-mode record value", envelope=1)
    if unlabelled and not (isinstance(obj, dict) and "specversion" in obj):
        raise InvalidEventError(
            "record is not a CloudEvent: no ce_specversion header, nor a specversion in its value"
        )
    if isinstance(obj, dict) and content_type is not None and "datacontenttype" not in obj:
        obj = {**obj, "datacontenttype": content_type.decode("utf-8")}
    if isinstance(obj, dict) and PARTITIONKEY not in obj:
        key = _key_text(message.key)
        if key is not None:
            obj = {**obj, PARTITIONKEY: key}
    return event_from_mapping(obj)


def _read_binary(headers: dict[str, bytes], message: KafkaMessage) -> Event:
    """Binary mode, read directly (the Kafka worker's hot path): what the SDK's reader does,
    without its per-header overhead and with the standard library's RFC 3339 parser."""
    attributes: dict[str, Any] = {
        name[3:]: value.decode("utf-8") for name, value in headers.items() if name[:3] == "ce_"
    }
    content_type = headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type.decode("utf-8")
    if PARTITIONKEY not in attributes:
        key = _key_text(message.key)
        if key is not None:
            attributes[PARTITIONKEY] = key
    if "time" in attributes:
        attributes["time"] = _parse_time(attributes["time"])
    return Event(attributes, FORMAT.read_data(message.value, attributes.get("datacontenttype")))


def _key_text(key: str | bytes | None) -> str | None:
    """The record key as a ``partitionkey``: UTF-8 text a CloudEvents String may hold, else
    None (the key stays the record's own)."""
    if key is None:
        return None
    if isinstance(key, bytes | bytearray):
        try:
            key = bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return key if key and valid_string(key) else None


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
        if content_type.lower().startswith(b"application/cloudevents"):
            return None
        attributes["datacontenttype"] = content_type.decode("utf-8")
    if PARTITIONKEY not in attributes:
        derived = _key_text(key)
        if derived is not None:
            attributes[PARTITIONKEY] = derived
    if "time" in attributes:
        attributes["time"] = _parse_time(attributes["time"])
    return Event(attributes, FORMAT.read_data(value or b"", attributes.get("datacontenttype")))


def _from_list(
    headers: Sequence[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> Event:
    message = KafkaMessage(headers=headers_from_list(headers), key=key, value=value or b"")
    return from_record(message)


def headers_from_list(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, bytes]:
    """aiokafka's list of (name, value) tuples -> a dict (last one wins, None -> b'')."""
    return {name: value or b"" for name, value in headers}


def headers_to_list(headers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """A header dict -> aiokafka's list of tuples."""
    return list(headers.items())
