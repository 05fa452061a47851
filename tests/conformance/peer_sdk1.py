"""The CloudEvents SDK 1.x as a peer: run by `sdk1.Sdk1Peer` under ``.venv-cloudevents1``.

Reads one JSON request per line on stdin and answers one JSON line on stdout. Bytes travel as
base64 (``{"b64": ...}``); an event comes back as its attributes (as the 1.x SDK holds them)
and its data. Requests: ``http_read`` / ``kafka_read`` (decode a message), ``http_write`` /
``kafka_write`` (encode attributes and data in ``mode``). Only the standard library and the
1.x SDK are imported here: tidal is not installed in that virtualenv.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from cloudevents import kafka  # type: ignore[import-not-found]
from cloudevents.conversion import to_binary, to_structured  # type: ignore[import-not-found]
from cloudevents.http import CloudEvent, from_http  # type: ignore[import-not-found]


def _raw(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"b64": base64.b64encode(value).decode()}
    return {"value": value}


def _bytes(value: dict[str, str] | None) -> bytes | None:
    return None if value is None else base64.b64decode(value["b64"])


def _event(event: Any) -> dict[str, Any]:
    attributes = {name: _raw(event[name]) for name in event}
    return {"attributes": attributes, "data": _raw(event.get_data())}


def http_read(request: dict[str, Any]) -> dict[str, Any]:
    raw = (lambda data: data) if request.get("raw") else None  # keep data as the SDK gets it
    return _event(from_http(request["headers"], _bytes(request["body"]), data_unmarshaller=raw))


def kafka_read(request: dict[str, Any]) -> dict[str, Any]:
    headers = {name: _bytes(value) for name, value in request["headers"].items()}
    message = kafka.KafkaMessage(headers, _bytes(request["key"]), _bytes(request["value"]))
    if request["mode"] == "structured":
        return _event(kafka.from_structured(message, data_unmarshaller=lambda data: data))
    return _event(kafka.from_binary(message, data_unmarshaller=lambda data: data))


def _made(request: dict[str, Any]) -> Any:
    data = request["data"]
    return CloudEvent(request["attributes"], _bytes(data) if "b64" in data else data["value"])


def http_write(request: dict[str, Any]) -> dict[str, Any]:
    writer = to_structured if request["mode"] == "structured" else to_binary
    headers, body = writer(_made(request))
    return {"headers": dict(headers), "body": _raw(body)}


def kafka_write(request: dict[str, Any]) -> dict[str, Any]:
    writer = kafka.to_structured if request["mode"] == "structured" else kafka.to_binary
    message = writer(_made(request))
    key = message.key.encode() if isinstance(message.key, str) else message.key
    headers = {name: _raw(value) for name, value in message.headers.items()}
    return {
        "headers": headers,
        "key": None if key is None else _raw(key),
        "value": _raw(message.value),
    }


OPERATIONS = {
    "http_read": http_read,
    "kafka_read": kafka_read,
    "http_write": http_write,
    "kafka_write": kafka_write,
}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = OPERATIONS[request["op"]](request)
        except Exception as exc:  # the test decides whether refusing was right
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
