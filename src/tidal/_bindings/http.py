"""HTTP protocol binding: binary, structured and batched CloudEvents <-> headers and body.

The HTTP transport calls `from_http` for every POST and `to_binary` / `to_batch` for replies
and dead letters; `tidal send` uses the writers; an idempotency record keeps its run's replies
as a batch (`to_batch`, read back with `parse_batch`). The batched mode
(`application/cloudevents-batch+json`) is ours: the SDK lacks it, and so is binary mode, since
the SDK writes attribute values with ``str()`` (``True``, not ``true``).

Header values follow http-protocol-binding.md 3.1.3.2: read, a value is first unescaped as an
RFC 7230 quoted-string, then percent-decoded once, and byte sequences that are not UTF-8
(``%C0%A0``) are refused; written, space, ``"``, ``%`` and everything outside printable ASCII
are percent-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, unquote_to_bytes

from tidal._attributes import text
from tidal._bindings.formats import (
    FORMAT,
    dumps,
    event_from_mapping,
    event_to_mapping,
    loads,
    parse_time,
)
from tidal._errors import InvalidEventError
from tidal._events import Event

STRUCTURED: Final = "application/cloudevents+json"
BATCH: Final = "application/cloudevents-batch+json"

# printable ASCII but space, '"' and '%' stays as it is (http-protocol-binding.md 3.1.3.2)
_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


class UnsupportedMediaTypeError(InvalidEventError):
    """The request's Content-Type names an event format tidal does not read (HTTP 415)."""


def media_type(content_type: str | None) -> str:
    """The lower-cased media type without parameters (``application/json; charset=x`` -> ...)."""
    if content_type is None:
        return ""
    known = _MEDIA_TYPES.get(content_type)
    if known is None:
        known = content_type.split(";", 1)[0].strip().lower()
        if len(_MEDIA_TYPES) < MAX_NAMES and len(content_type) <= MAX_CACHED:
            _MEDIA_TYPES[content_type] = known
    return known


MAX_NAMES: Final = 512
MAX_CACHED: Final = 128  # longer texts are worked out each time: the caches stay small
_MEDIA_TYPES: Final[dict[str, str]] = {}  # Content-Type -> its media type, the first few seen
_ATTRIBUTES: Final[dict[str, str]] = {}  # header name -> its attribute ("": none), likewise


def attribute_of(header: str) -> str:
    """The attribute a header name carries in binary mode (``CE-Id`` -> ``id``), or ""."""
    known = _ATTRIBUTES.get(header)
    if known is None:
        lowered = header.lower()
        known = lowered[3:] if lowered.startswith("ce-") else ""
        if len(_ATTRIBUTES) < MAX_NAMES and len(header) <= MAX_CACHED:
            _ATTRIBUTES[header] = known
    return known


def from_http(headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Decode one HTTP request into its events, or raise `InvalidEventError` saying why
    (never anything else: whatever the body holds, a client gets a 4xx)."""
    try:
        return _parse(headers, body)
    except InvalidEventError:
        raise
    except Exception as exc:  # a decoder's own error: still the request's fault
        raise InvalidEventError(f"not a valid CloudEvent: {type(exc).__name__}: {exc}") from exc


def parse_batch(body: bytes) -> list[Event]:
    """Decode a batched-mode body (`to_batch`'s) into its events, or raise `InvalidEventError`
    (the replies an idempotency record keeps: `tidal._idempotency.records.decode_replies`)."""
    try:
        return _parse_batch(body)
    except InvalidEventError:
        raise
    except Exception as exc:  # a decoder's own error, as `from_http` says it
        raise InvalidEventError(f"not a valid CloudEvent: {type(exc).__name__}: {exc}") from exc


def _parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    kind = media_type(headers.get("content-type"))
    if kind == BATCH:
        return _parse_batch(body)
    if kind.startswith("application/cloudevents"):
        if kind != STRUCTURED:
            raise UnsupportedMediaTypeError(f"unsupported event format {kind!r}; send {STRUCTURED}")
        return [event_from_mapping(loads(body, what="body", envelope=1))]
    if "ce-specversion" in headers:
        return [_parse_binary(headers, body)]
    raise InvalidEventError(
        "not a CloudEvent: expected ce-* headers (binary mode) or Content-Type "
        f"{STRUCTURED} / {BATCH}"
    )


def _parse_binary(headers: Mapping[str, str], body: bytes) -> Event:
    """Binary mode, read directly: the SDK's reader parses ``time`` with dateutil, which costs
    more than the rest of the request path together, and replaces bad percent-encoding."""
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        attribute = _ATTRIBUTES.get(name)
        if attribute is None:
            attribute = attribute_of(name)
        if attribute:
            plain = '"' not in value and "%" not in value  # most values: nothing to decode
            attributes[attribute] = value if plain else header_value("ce-" + attribute, value)
    content_type = headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    if "time" in attributes:
        attributes["time"] = parse_time(attributes["time"])
    return Event(attributes, FORMAT.read_data(body, content_type))


def header_value(name: str, value: str) -> str:
    """A ``ce-`` header's attribute text: quoted-strings unescaped, then percent-decoded."""
    if '"' in value:
        value = _unquote(name, value)
    if "%" not in value:
        return value  # characters beyond ASCII as they came (the 1.x SDK writes them so)
    if _BAD_PERCENT.search(value):
        raise InvalidEventError(f"header {name} has a malformed percent-encoding: {value!r}")
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEventError(
            f"header {name} percent-encodes bytes that are not UTF-8: {value!r}"
        ) from exc


def _unquote(name: str, value: str) -> str:
    """RFC 7230 3.2.6: drop the quotes of each quoted-string and resolve its backslash pairs;
    text outside quotes (a backslash included) stays as it is."""
    out = []
    inside = False
    index = 0
    while index < len(value):
        char = value[index]
        if char == '"':
            inside = not inside
        elif inside and char == "\\":
            if index + 1 >= len(value):
                break
            index += 1
            out.append(value[index])
        else:
            out.append(char)
        index += 1
    if inside or index < len(value):
        raise InvalidEventError(f"header {name} has an unterminated quoted-string: {value!r}")
    return "".join(out)


def _parse_batch(body: bytes) -> list[Event]:
    items = loads(body, what="body", envelope=2)
    if not isinstance(items, list):
        raise InvalidEventError("a batch must be a JSON array of structured CloudEvents")
    events = []
    for index, item in enumerate(items):
        try:
            events.append(event_from_mapping(item))
        except InvalidEventError as exc:
            raise InvalidEventError(f"batch item {index}: {exc}") from exc
    return events


def encode_header(value: str) -> str:
    """Percent-encode an attribute's text for a header (upper-case hex, UTF-8)."""
    return value if value.isascii() and value.isalnum() else quote(value, safe=_SAFE)


def to_binary(event: Event) -> tuple[dict[str, str], bytes]:
    """Binary mode: attributes as ``ce-`` headers (canonical text, percent-encoded), data as
    the body. Data other than bytes with no ``datacontenttype`` is JSON and says so; bytes
    without one stay unlabelled (json-format.md 3.1.1)."""
    headers: dict[str, str] = {}
    content_type = None
    for name, value in event.get_attributes().items():
        if name == "datacontenttype":
            content_type = headers["content-type"] = value
        else:
            headers["ce-" + name] = encode_header(text(value))
    data = event.get_data()
    if data is not None and content_type is None and not isinstance(data, bytes | bytearray):
        headers["content-type"] = "application/json"
    return headers, FORMAT.write_data(data, content_type)


def to_structured(event: Event) -> tuple[dict[str, str], bytes]:
    """Structured mode: the whole event as one JSON object."""
    return {"content-type": STRUCTURED}, dumps(event_to_mapping(event))


def to_batch(events: Sequence[Event]) -> tuple[dict[str, str], bytes]:
    """Batched mode: a JSON array of structured events."""
    return {"content-type": BATCH}, dumps([event_to_mapping(e) for e in events])
