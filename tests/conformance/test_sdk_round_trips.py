"""Every event tidal writes reads back unchanged through the official CloudEvents SDKs, 2.x (in
process) and 1.x (`peer_sdk1.py`): each attribute as its canonical text, byte for byte (a time
with nanoseconds, ``true`` for a boolean), and its data. And what the SDKs write, tidal reads.

The SDKs' own departures from the spec are named where a comparison allows for them: 2.x parses
``time`` into a datetime (microseconds), 1.x predates percent-encoding in HTTP headers (spec
1.0.2) and, in Kafka structured mode, takes ``datacontenttype`` from the record's content-type
header (``cloudevents/kafka/conversion.py``, ``from_structured``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from cloudevents.core.bindings import http as sdk_http
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import HealthCheck, given, settings
from tests.conformance.conftest import Sdk1Peer, b64, unb64
from tests.conformance.strategies import HEADER_SAFE, events, json_equal

from tidal._attributes import text
from tidal._bindings import http, kafka
from tidal._bindings.formats import is_json
from tidal._bindings.http import encode_header
from tidal._events import PARTITIONKEY, Event

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same_data(ours: Event, theirs: Any) -> bool:
    data = ours.data
    if isinstance(data, bytes) and isinstance(theirs, str):  # no content type: 2.x decodes text
        return theirs.encode() == data
    if isinstance(data, bytes) and not isinstance(theirs, bytes) and not ours.get_datacontenttype():
        # unlabelled bytes that happen to be a JSON document (b"0"): 2.x parses them as JSON
        return _parses_as(data, theirs)
    if isinstance(data, bytes) or not isinstance(theirs, bytes | str):
        return data == theirs if isinstance(data, bytes) else json_equal(data, theirs)
    if is_json(ours.get_datacontenttype()) and isinstance(theirs, str) and isinstance(data, str):
        return data == theirs
    raw = theirs.encode() if isinstance(theirs, str) else theirs
    return raw == (data.encode() if isinstance(data, str) else http.to_binary(ours)[1])


def _parses_as(raw: bytes, theirs: Any) -> bool:
    try:
        return json_equal(json.loads(raw), theirs)
    except ValueError:
        return False


def _labelled(event: Event) -> dict[str, Any]:
    """The attributes binary mode carries: data that is not bytes and has no content type is
    JSON and is labelled so (json-format.md 3.1.2: "SHOULD be set explicitly")."""
    attributes = dict(event.get_attributes())
    implied = event.data is not None and not isinstance(event.data, bytes)
    if "datacontenttype" not in attributes and implied:
        attributes["datacontenttype"] = "application/json"
    return attributes


def _assert_sdk2_reads(ours: Event, theirs: Any, *, labelled: bool = False) -> None:
    expected = _labelled(ours) if labelled else ours.get_attributes()
    got = theirs.get_attributes()
    assert set(got) == set(expected)
    for name, value in expected.items():
        if isinstance(got[name], datetime):  # 2.x parses time (to microseconds)
            assert got[name] == value, name
        else:
            assert text(got[name]) == text(value), name
    assert _same_data(ours, theirs.get_data())


# -- tidal writes, the SDK 2.x reads -----------------------------------------------------------


@SETTINGS
@given(event=events())
def test_sdk2_reads_every_http_binary_event_tidal_writes(event: Event) -> None:
    headers, body = http.to_binary(event)
    message = sdk_http.HTTPMessage(headers, body)
    _assert_sdk2_reads(event, sdk_http.from_binary(message, JSONFormat()), labelled=True)


@SETTINGS
@given(event=events())
def test_sdk2_reads_every_http_structured_event_tidal_writes(event: Event) -> None:
    headers, body = http.to_structured(event)
    message = sdk_http.HTTPMessage(headers, body)
    _assert_sdk2_reads(event, sdk_http.from_structured(message, JSONFormat()))


@SETTINGS
@given(event=events())
def test_sdk2_reads_every_kafka_record_tidal_writes_in_either_mode(event: Event) -> None:
    binary = kafka.to_record(event)
    assert binary.key == event.text(PARTITIONKEY)
    _assert_sdk2_reads(event, sdk_kafka.from_binary(binary, JSONFormat()))
    structured = kafka.to_record(event, mode="structured")
    _assert_sdk2_reads(event, sdk_kafka.from_structured(structured, JSONFormat()))


# -- tidal writes, the SDK 1.x reads -----------------------------------------------------------


def _sdk1_attributes(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in answer, answer
    return {name: unb64(value) for name, value in answer["attributes"].items()}


def _assert_texts(got: dict[str, Any], expected: dict[str, str]) -> None:
    assert set(got) == set(expected)
    for name, value in expected.items():
        found = got[name]
        assert (found.decode() if isinstance(found, bytes) else text(found)) == value, name


@SETTINGS
@given(event=events())
def test_sdk1_reads_every_http_structured_event_tidal_writes(sdk1: Sdk1Peer, event: Event) -> None:
    """Data taken raw: 1.x's default unmarshaller would parse even ``data_base64`` bytes as
    JSON (cloudevents/sdk/event/base.py, ``UnmarshalJSON``), which json-format.md 3.1.2
    forbids."""
    headers, body = http.to_structured(event)
    answer = sdk1.ask("http_read", headers=headers, body=b64(body), raw=True)
    _assert_texts(_sdk1_attributes(answer), {n: text(v) for n, v in event.get_attributes().items()})
    data = unb64(answer["data"])
    if isinstance(event.data, bytes):
        assert data == event.data
    elif event.data is not None:  # the "data" member, as the JSON text 1.x hands over
        assert json_equal(json.loads(data), event.data)


@SETTINGS
@given(event=events())
def test_sdk1_reads_http_binary_headers_as_the_text_tidal_wrote(
    sdk1: Sdk1Peer, event: Event
) -> None:
    """1.x does not percent-decode: it must see exactly the (encoded) canonical text."""
    headers, body = http.to_binary(event)
    answer = sdk1.ask("http_read", headers=headers, body=b64(body))
    expected = {n: encode_header(text(v)) for n, v in _labelled(event).items()}
    if "datacontenttype" in expected:  # Content-Type is an HTTP header of its own
        expected["datacontenttype"] = _labelled(event)["datacontenttype"]
    _assert_texts(_sdk1_attributes(answer), expected)


@SETTINGS
@given(event=events(text=HEADER_SAFE))
def test_sdk1_reads_plain_http_binary_events_unchanged(sdk1: Sdk1Peer, event: Event) -> None:
    headers, body = http.to_binary(event)
    got = _sdk1_attributes(sdk1.ask("http_read", headers=headers, body=b64(body)))
    assert got == {name: text(value) for name, value in _labelled(event).items()}


@SETTINGS
@given(event=events())
def test_sdk1_reads_every_kafka_record_tidal_writes(sdk1: Sdk1Peer, event: Event) -> None:
    expected = {n: text(v) for n, v in event.get_attributes().items()}
    for mode in ("binary", "structured"):
        record = kafka.to_record(event, mode=mode)  # type: ignore[arg-type]
        key = record.key.encode() if isinstance(record.key, str) else record.key
        answer = sdk1.ask(
            "kafka_read",
            mode=mode,
            headers={name: b64(value) for name, value in record.headers.items()},
            key=None if key is None else b64(key),
            value=b64(record.value),
        )
        got = _sdk1_attributes(answer)
        if mode == "structured":  # 1.x takes the record's content-type as datacontenttype
            got.pop("datacontenttype")
            wanted = {n: v for n, v in expected.items() if n != "datacontenttype"}
            _assert_texts(got, wanted)
            assert _same_data(event, unb64(answer["data"])), (event.data, event.get_attributes())
        else:
            _assert_texts(got, expected)
            assert unb64(answer["data"]) == record.value


# -- the SDKs write, tidal reads ---------------------------------------------------------------


def _sdk_event(event: Event) -> CloudEvent:
    return CloudEvent(dict(event.get_attributes()), event.get_data())


@SETTINGS
@given(event=events(text=HEADER_SAFE))
def test_tidal_reads_what_sdk2_writes(event: Event) -> None:
    theirs = _sdk_event(event)
    structured = sdk_http.to_structured(theirs, JSONFormat())
    assert http.from_http(structured.headers, structured.body) == [event]
    record = sdk_kafka.to_structured(theirs, JSONFormat())
    assert kafka.from_record(record) == event


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize("transport", ["http", "kafka"])
def test_tidal_reads_what_sdk1_writes(sdk1: Sdk1Peer, transport: str, mode: str) -> None:
    attributes = {
        "specversion": "1.0",
        "type": "com.example.someevent",
        "source": "/mycontext/subcontext",
        "id": "1234-1234-1234",
        "time": "2018-04-05T03:56:24.123456789Z",
        "subject": "caf\u00e9 au lait",
        "comexampleextension1": "value",
        "partitionkey": "key-1",
        "datacontenttype": "application/json",
    }
    answer = sdk1.ask(
        f"{transport}_write", mode=mode, attributes=attributes, data={"value": {"a": [1, 2.5]}}
    )
    assert "error" not in answer, answer
    if transport == "http":
        event = http.from_http(answer["headers"], unb64(answer["body"]))[0]
    else:
        key = answer["key"]
        message = kafka.KafkaMessage(
            headers={name: unb64(value) for name, value in answer["headers"].items()},
            key=None if key is None else unb64(key),
            value=unb64(answer["value"]),
        )
        event = kafka.from_record(message)
    expected = dict(attributes)
    if transport == "http" and mode == "binary":  # 1.x writes headers without percent-encoding
        expected["subject"] = "caf\u00e9 au lait"
    assert {n: event.text(n) for n in event.get_attributes()} == expected
    assert event.data == {"a": [1, 2.5]}
