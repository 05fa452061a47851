"""HTTP protocol binding: binary, structured and batched CloudEvents <-> headers and body.

The HTTP transport calls `parse_request` for every POST and `to_binary` / `to_batch` for replies;
`tidal send` uses the writers. The batched mode (`application/cloudevents-batch+json`) is ours:
the SDK lacks it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote

from cloudevents.core.bindings import http as sdk_http

from tidal.bindings.formats import FORMAT, dumps, event_from_mapping, event_to_mapping, parse_time
from tidal.errors import InvalidEventError
from tidal.events import Event

STRUCTURED: Final = "application/cloudevents+json"
BATCH: Final = "application/cloudevents-batch+json"


class UnsupportedMediaTypeError(InvalidEventError):
    """The request's Content-Type names an event format tidal does not read (HTTP 415)."""


def media_type(content_type: str | None) -> str:
    """The lower-cased media type without parameters (``application/json; charset=x`` -> ...)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_request(headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Decode one HTTP request into its events, or raise `InvalidEventError` saying why."""
    kind = media_type(headers.get("content-type"))
    if kind == BATCH:
        return _parse_batch(body)
    if kind.startswith("application/cloudevents"):
        if kind != STRUCTURED:
            raise UnsupportedMediaTypeError(f"unsupported event format {kind!r}; send {STRUCTURED}")
        return [event_from_mapping(_loads(body))]
    if "ce-specversion" in headers:
        return [_parse_binary(headers, body)]
    raise InvalidEventError(
        "not a CloudEvent: expected ce-* headers (binary mode) or Content-Type "
        f"{STRUCTURED} / {BATCH}"
    )


def _parse_binary(headers: Mapping[str, str], body: bytes) -> Event:
    """Binary mode, read directly: the SDK's reader percent-decodes every header and parses
    ``time`` with dateutil, which costs more than the rest of the request path together."""
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-"):
            attributes[lowered[3:]] = unquote(value) if "%" in value else value
    content_type = headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    if "time" in attributes:
        attributes["time"] = parse_time(attributes["time"])
    return Event(attributes, FORMAT.read_data(body, content_type))


def _parse_batch(body: bytes) -> list[Event]:
    items = _loads(body)
    if not isinstance(items, list):
        raise InvalidEventError("a batch must be a JSON array of structured CloudEvents")
    events = []
    for index, item in enumerate(items):
        try:
            events.append(event_from_mapping(item))
        except InvalidEventError as exc:
            raise InvalidEventError(f"batch item {index}: {exc}") from exc
    return events


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"body is not valid JSON: {exc}") from exc


def to_binary(event: Event) -> tuple[dict[str, str], bytes]:
    """Binary mode: attributes as ``ce-`` headers, data as the body."""
    message = sdk_http.to_binary(event, FORMAT)
    headers = dict(message.headers)
    if event.data is not None and "content-type" not in headers:
        headers["content-type"] = "application/json"
    return headers, message.body


def to_structured(event: Event) -> tuple[dict[str, str], bytes]:
    """Structured mode: the whole event as one JSON object."""
    return {"content-type": STRUCTURED}, dumps(event_to_mapping(event))


def to_batch(events: Sequence[Event]) -> tuple[dict[str, str], bytes]:
    """Batched mode: a JSON array of structured events."""
    return {"content-type": BATCH}, dumps([event_to_mapping(e) for e in events])
