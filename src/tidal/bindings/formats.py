"""The JSON event format tidal reads and writes; called by the HTTP and Kafka bindings.

Extends the SDK's `JSONFormat` where it is too lenient or too narrow for a server: JSON data that
does not parse is an `InvalidEventError` (the SDK silently turns it into a string), any JSON
value (lists, numbers, booleans) is written as JSON (the SDK writes only dicts), and a structured
event is read by `event_from_mapping`, so its ``time`` keeps its text (`tidal.events.Timestamp`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from cloudevents.core.formats.json import JSONFormat
from dateutil.parser import isoparse

from tidal.errors import InvalidEventError
from tidal.events import Event, Timestamp

JSON_CONTENT_TYPE: Final = re.compile(r"^(application|text)/([a-zA-Z0-9\-.]+\+)?json(;.*)?$", re.I)


_JSON_TYPES: dict[str, bool] = {}  # content type -> is_json, for the first 256 seen


def is_json(content_type: str | None) -> bool:
    """True when data of this content type is JSON (absent means JSON, per the spec)."""
    if content_type is None:
        return True
    known = _JSON_TYPES.get(content_type)
    if known is None:
        known = JSON_CONTENT_TYPE.match(content_type) is not None
        if len(_JSON_TYPES) < 256:
            _JSON_TYPES[content_type] = known
    return known


def encode_time(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return encode_time(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


class StrictJSONFormat(JSONFormat):
    """`JSONFormat` that rejects malformed JSON data and writes every JSON value."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        if not body:
            return None
        if is_json(datacontenttype):
            try:
                return _loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidEventError(f"data is not valid JSON: {exc}") from exc
        try:
            return body.decode("utf-8") if datacontenttype.startswith("text/") else body  # type: ignore[union-attr]
        except UnicodeDecodeError:
            return body

    def write_data(self, data: Any, datacontenttype: str | None) -> bytes:
        if data is None:
            return b""
        if isinstance(data, bytes | bytearray):
            return bytes(data)
        if isinstance(data, str) and not is_json(datacontenttype):
            return data.encode("utf-8")
        return dumps(data)

    def write(self, event: Any) -> bytes:
        return dumps(event_to_mapping(event))

    def read(self, event_factory: Any, data: str | bytes) -> Event:
        """Structured mode as `event_from_mapping` reads it (the SDK's reader would parse
        ``time`` into a datetime that forgets its text, which filters compare). JSON that does
        not parse raises ``json.JSONDecodeError``, as the SDK's reader does."""
        return event_from_mapping(json.loads(data))


FORMAT: Final = StrictJSONFormat()
_DECODER: Final = json.JSONDecoder()


def _loads(body: bytes) -> Any:
    """``json.loads(body)``, without its encoding detection where it would say UTF-8 (no BOM,
    no NUL in the first two bytes): what every event's data goes through."""
    if body[0] not in (0x00, 0xEF, 0xFE, 0xFF) and (len(body) < 2 or body[1]):
        return _DECODER.decode(body.decode("utf-8", "surrogatepass"))
    return json.loads(body)


def event_to_mapping(event: Any) -> dict[str, Any]:
    """The structured-mode JSON object of an event (``data`` or ``data_base64``)."""
    body: dict[str, Any] = dict(event.get_attributes())
    data = event.get_data()
    if isinstance(data, bytes | bytearray):
        body["data_base64"] = base64.b64encode(data).decode()
    elif data is not None:
        body["data"] = data
    return body


def event_from_mapping(obj: Any) -> Event:
    """Parse one structured-mode JSON object into an `Event`, or raise `InvalidEventError`."""
    if not isinstance(obj, Mapping):
        raise InvalidEventError(
            f"a structured CloudEvent must be a JSON object, got {type(obj).__name__}"
        )
    attributes = dict(obj)
    data = attributes.pop("data", None)
    encoded = attributes.pop("data_base64", None)
    if encoded is not None:
        data = _b64decode(encoded)
    if "time" in attributes:
        attributes["time"] = parse_time(attributes["time"])
    return Event(attributes, data)


def parse_time(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp, naming the attribute when it is malformed."""
    parsed: datetime | None = None
    if isinstance(value, str):
        try:
            parsed = Timestamp.read(value)
        except ValueError:
            parsed = _isoparse(value)
    if parsed is None or parsed.tzinfo is None:
        raise InvalidEventError(f"attribute 'time' is not an RFC 3339 timestamp: {value!r}")
    return parsed if isinstance(parsed, Timestamp) else Timestamp.parse(value, parsed)


def _isoparse(value: str) -> datetime | None:
    """dateutil's parser for the RFC 3339 forms ``datetime.fromisoformat`` refuses."""
    try:
        parsed: datetime = isoparse(value)
    except ValueError:
        return None
    return parsed


def _b64decode(encoded: Any) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError) as exc:
        raise InvalidEventError("data_base64 is not valid base64") from exc
