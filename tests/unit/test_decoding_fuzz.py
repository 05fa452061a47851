"""Hypothesis fuzzes the decoders of both bindings and the HTTP app: whatever arrives, decoding
raises `InvalidEventError` or gives events, the app answers 4xx (never 500), and every event
accepted is written back by each writer in a form that reads back to the same bytes."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tidal import App, DeliveryPolicy, Event
from tidal._bindings import http, kafka
from tidal._bindings.formats import MAX_DEPTH
from tidal._dispatching import Dispatcher
from tidal._errors import InvalidEventError
from tidal._transports.http.asgi import Receiver, create_asgi_app

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
ATTRIBUTES = ["id", "source", "type", "specversion", "time", "subject", "dataschema", "flag", "x"]
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/octet-stream",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/cloudevents+xml",
    "application/vnd.x+json; charset=utf-16",
]
HOSTILE = [
    "",
    "1.0",
    "0.3",
    "2018-04-05T03:56:24.123456789Z",
    "2018-04-05t03:56:24z",
    "2018-02-30T00:00:00Z",
    "%C0%A0",
    "%E2%82%AC",
    '"quoted \\" text"',
    '"unterminated',
    "caf\u00e9",
    "\x00",
    "a%0Ab",
    "true",
    "%",
    "%ZZ",
]


def _deep(depth: int, *, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)
TEXTS = st.sampled_from(HOSTILE) | st.text(max_size=12)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    """Structured events, batches and data: plausible ones, deep ones, broken ones."""
    kind = draw(st.sampled_from(["event", "batch", "deep", "value", "bytes", "constant"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "constant":
        return draw(
            st.sampled_from([b"NaN", b"-Infinity", b"1e999", b'"\\ud800"', b"\xef\xbb\xbf{}"])
        )
    if kind == "deep":
        depth = draw(st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 999, 1001, 20_000]))
        return _deep(depth, open_=draw(st.sampled_from(["[", '{"a":'])), close="]").encode()
    if kind == "value":
        return json.dumps(draw(JSON_VALUES)).encode()
    event = _event_object(draw)
    if kind == "batch":
        return json.dumps([event, _event_object(draw)]).encode()
    return json.dumps(event).encode()


def _event_object(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
    members = draw(
        st.dictionaries(
            st.sampled_from([*ATTRIBUTES, "data", "data_base64", "datacontenttype", "Bad"]),
            JSON_VALUES | TEXTS,
            max_size=4,
        )
    )
    obj.update(members)
    return obj


@st.composite
def http_requests(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    headers = {
        f"ce-{name}": draw(TEXTS)
        for name in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=6))
    }
    if draw(st.booleans()):
        headers.update({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"})
    if draw(st.booleans()):
        headers["content-type"] = draw(st.sampled_from(CONTENT_TYPES))
    headers = {name: value.encode("utf-8").decode("latin-1") for name, value in headers.items()}
    return headers, draw(json_bodies())


@st.composite
def kafka_records(
    draw: st.DrawFn,
) -> tuple[list[tuple[str, bytes | None]], bytes | None, bytes | None]:
    names = st.sampled_from([*(f"ce_{n}" for n in ATTRIBUTES), "content-type", "CE_ID", "x"])
    values = TEXTS.map(str.encode) | st.binary(max_size=8) | st.none()
    headers = draw(st.lists(st.tuples(names, values), max_size=8))
    if draw(st.booleans()):
        headers += [
            (f"ce_{n}", v)
            for n, v in (("specversion", b"1.0"), ("id", b"1"), ("source", b"/s"), ("type", b"t"))
        ]
    key = draw(st.none() | st.binary(max_size=8) | TEXTS.map(str.encode))
    return headers, key, draw(json_bodies() | st.none())


def _stable(event: Event) -> None:
    """Every writer's output reads back and is written again to the very same bytes (after
    one round: unlabelled bytes that parse as JSON are read as JSON, then labelled so)."""
    for write in (http.to_binary, http.to_structured, lambda e: http.to_batch([e])):
        [event] = http.from_http(*write(event))
        headers, body = write(event)
        assert all(value.isascii() and value.isprintable() for value in headers.values())
        [again] = http.from_http(headers, body)
        assert write(again) == (headers, body)
    for mode in ("binary", "structured"):
        event = kafka.from_record(kafka.to_record(event, mode=mode))  # type: ignore[arg-type]
        record = kafka.to_record(event, mode=mode)  # type: ignore[arg-type]
        again = kafka.from_record(record)
        assert kafka.to_record(again, mode=mode) == record  # type: ignore[arg-type]


@FUZZ
@given(request=http_requests())
def test_http_decoding_refuses_or_gives_events_that_write_back_stably(
    request: tuple[dict[str, str], bytes],
) -> None:
    try:
        events = http.from_http(*request)
    except InvalidEventError as exc:
        event(f"refused: {str(exc)[:30]}")
        return
    event("accepted")
    for accepted in events:
        _stable(accepted)


@FUZZ
@given(record=kafka_records())
def test_kafka_decoding_refuses_or_gives_events_that_write_back_stably(
    record: tuple[list[tuple[str, bytes | None]], bytes | None, bytes | None],
) -> None:
    try:
        accepted = kafka.from_consumed(*record)
    except InvalidEventError as exc:
        event(f"refused: {str(exc)[:30]}")
        return
    event("accepted")
    _stable(accepted)


def _receiver() -> Receiver:
    app = App("fuzz", policy=DeliveryPolicy.of(max_attempts=1))

    @app.on()
    def anything(event: Event) -> Event:
        return event  # the reply is written by the binding too

    return Receiver(dispatcher=Dispatcher(app), max_body_bytes=64 * 1024)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=http_requests())
async def test_the_http_app_answers_every_request_without_a_500(
    request: tuple[dict[str, str], bytes],
) -> None:
    headers, body = request
    transport = httpx.ASGITransport(app=create_asgi_app(_receiver()))
    async with httpx.AsyncClient(transport=transport, base_url="http://tidal.test") as client:
        raw = {name: value.encode("latin-1") for name, value in headers.items()}
        answer = await client.post("/", headers=raw, content=body)
    event(f"status {answer.status_code}")
    assert answer.status_code in (200, 202, 204, 400, 413, 415, 422), answer.text
