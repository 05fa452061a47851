"""The JSON event format tidal reads and writes; called by the HTTP and Kafka bindings.

Extends the SDK's `JSONFormat` where it is too lenient or too narrow for a server: JSON data that
does not parse is an `InvalidEventError` (the SDK silently turns it into a string), and any JSON
value (lists, numbers, booleans) is written as JSON (the SDK writes only dicts).

Every JSON document a binding reads goes through `loads`, which never raises anything but
`InvalidEventError`: ``data`` nested deeper than `MAX_DEPTH` levels (the parser's recursion would
otherwise end the process, or the next encoder's), ``NaN`` / ``Infinity`` and numbers beyond a
double's range (no JSON encoder can write them back) are refused with the reason. `loads` parses
with msgspec's decoder (several times faster) and lets the standard library read whatever msgspec
refuses: the standard library then says why, in the words it always did, or reads what msgspec
does not (a BOM, UTF-16, an escaped lone surrogate). Where both read a document they agree.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec
from cloudevents.core.formats.json import JSONFormat

from tidal._attributes import parse_time as _parse_time
from tidal._attributes import time_text
from tidal._errors import InvalidEventError
from tidal._events import Event

MAX_DEPTH: Final = 128
"""Deepest nesting of arrays and objects accepted in an event's ``data`` (a structured event's
envelope and a batch's array come on top). .NET's System.Text.Json stops at 64, Jackson at
1000; Python's parser and encoder recurse once per level against a limit of 1000 frames shared
with the handler, so 128 keeps a wide margin for both."""

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
    """RFC 3339 text of ``value`` (a `Timestamp` keeps the text it arrived as)."""
    return time_text(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, bytes | bytearray):  # a Binary attribute: base64 (json-format.md 2.2)
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


class StrictJSONFormat(JSONFormat):
    """`JSONFormat` that rejects malformed JSON data and writes every JSON value."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        if not body:
            return None
        if datacontenttype is None:  # binary mode, unlabelled: JSON if it is, else the bytes
            try:
                return loads(body, what="data")
            except InvalidEventError:
                return body
        if is_json(datacontenttype):
            return loads(body, what="data")
        try:
            return body.decode("utf-8") if datacontenttype.startswith("text/") else body
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


FORMAT: Final = StrictJSONFormat()


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"number {literal[:40]} is out of range")
    return value


_DECODER: Final = json.JSONDecoder(parse_constant=_constant)
_CHECKED: Final = json.JSONDecoder(parse_constant=_constant, parse_float=_float)
# a number a double may not hold has an exponent of 3+ digits or 309+ digits in a row: cheaper
# to look for than to check every float the parser makes
_EXPONENT: Final = re.compile(r"[eE][+-]?\d{3}")
_DIGITS: Final = re.compile(r"\d{309}")


def _huge(document: str) -> bool:
    if ("e" in document or "E" in document) and _EXPONENT.search(document):
        return True
    return len(document) > 308 and _DIGITS.search(document) is not None


def loads(body: bytes | str, *, what: str, envelope: int = 0) -> Any:
    """Parse one JSON document strictly, or raise `InvalidEventError` saying what is wrong with
    ``what``; ``envelope`` levels of nesting (a structured event, a batch) come on top of
    `MAX_DEPTH`."""
    limit = MAX_DEPTH + envelope
    value = _quick(body)
    if value is _SLOW:
        value = _standard(body, what, limit)
    # deeper than ``limit`` takes more than ``limit`` brackets, so more characters
    if len(body) > limit and _brackets(body) > limit and _deeper(value, limit):
        raise InvalidEventError(f"{what} is nested deeper than {limit} levels")
    return value


_SLOW: Final = object()
_FAST: Final = msgspec.json.Decoder()


def _quick(body: bytes | str) -> Any:
    """msgspec's value of ``body``, or `_SLOW` for what it refuses (its errors are ValueErrors,
    and so is a lone surrogate in text it is given)."""
    try:
        return _FAST.decode(body)
    except (ValueError, RecursionError):
        return _SLOW


def _standard(body: bytes | str, what: str, limit: int) -> Any:
    """The standard library's parse of ``body``, refusing what `loads` refuses."""
    try:
        document = _text(body)
        return (_CHECKED if _huge(document) else _DECODER).decode(document)
    except RecursionError:
        raise InvalidEventError(f"{what} is nested deeper than {limit} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"{what} is not valid JSON: {exc}") from exc


def _text(body: bytes | str) -> str:
    """The document as text: UTF-8 unless a BOM or NULs say otherwise (``json.loads``'s
    detection, skipped where it would say UTF-8: what every event's data goes through)."""
    if isinstance(body, str):
        return body
    if body and body[0] not in (0x00, 0xEF, 0xFE, 0xFF) and (len(body) < 2 or body[1]):
        return body.decode("utf-8", "surrogatepass")
    return body.decode(json.detect_encoding(body), "surrogatepass")


def _brackets(body: bytes | str) -> int:
    """An upper bound of the nesting depth, counted at C speed (most events have few)."""
    if isinstance(body, str):
        return body.count("[") + body.count("{")
    return body.count(b"[") + body.count(b"{")


def _deeper(value: Any, limit: int) -> bool:
    """True when arrays and objects nest more than ``limit`` levels in ``value``."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


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
    attributes = {k: v for k, v in obj.items() if v is not None}  # null: unset (json-format 2.2)
    data = attributes.pop("data", None)
    encoded = attributes.pop("data_base64", None)
    if encoded is not None:
        data = _b64decode(encoded)
    elif data is not None and not isinstance(data, str) and not is_json(_type(attributes)):
        raise InvalidEventError(  # json-format.md 3.1.2: an encoded content string
            "data of a content type other than JSON must be a string (or data_base64)"
        )
    if "time" in attributes:
        attributes["time"] = _parse_time(attributes["time"])
    return Event(attributes, data)


def _type(attributes: Mapping[str, Any]) -> str | None:
    content_type = attributes.get("datacontenttype")
    return content_type if isinstance(content_type, str) else None


def parse_time(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp, keeping its text; `InvalidEventError` names the attribute."""
    return _parse_time(value)


def _b64decode(encoded: Any) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError) as exc:
        raise InvalidEventError("data_base64 is not valid base64") from exc
