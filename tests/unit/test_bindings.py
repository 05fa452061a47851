"""HTTP and Kafka bindings: every mode round-trips, and malformed input says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tidal._bindings import http, kafka
from tidal._bindings.http import UnsupportedMediaTypeError, from_http
from tidal._errors import InvalidEventError
from tidal._events import Event
from tidal.testing import make_event

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def order() -> Event:
    body = (SAMPLES / "order_structured.json").read_bytes()
    return from_http({"content-type": "application/cloudevents+json"}, body)[0]


def test_structured_sample_parses_with_time_and_extension(order: Event) -> None:
    assert order.type == "com.acme.pos.order.confirmed.v1"
    assert order.time is not None
    assert order.time.isoformat() == "2026-11-02T10:15:00+00:00"
    assert order.partitionkey == "customer-7"
    assert order.data["total"] == 129.5


@pytest.mark.parametrize("writer", [http.to_binary, http.to_structured])
def test_single_event_modes_round_trip(order: Event, writer: object) -> None:
    headers, body = writer(order)  # type: ignore[operator]
    assert from_http(headers, body) == [order]


def test_batch_round_trips_every_event(order: Event) -> None:
    other = make_event(data=[1, 2, 3])
    headers, body = http.to_batch([order, other])
    assert headers["content-type"] == http.BATCH
    assert from_http(headers, body) == [order, other]


def test_binary_mode_percent_encodes_non_ascii_attributes() -> None:
    event = make_event(subject="café au lait")
    headers, body = http.to_binary(event)
    assert headers["ce-subject"].isascii()
    assert from_http(headers, body)[0].subject == "café au lait"


def test_binary_bytes_data_survives_as_bytes() -> None:
    event = make_event(data=b"\x00\xff", datacontenttype="application/octet-stream")
    assert from_http(*http.to_binary(event))[0].data == b"\x00\xff"


def test_structured_bytes_data_travels_as_base64() -> None:
    event = make_event(data=b"\x00\xff", datacontenttype="application/octet-stream")
    headers, body = http.to_structured(event)
    assert "data_base64" in json.loads(body)
    assert from_http(headers, body)[0].data == b"\x00\xff"


def test_content_type_parameters_are_ignored(order: Event) -> None:
    _, body = http.to_structured(order)
    headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
    assert from_http(headers, body) == [order]


def test_binary_header_names_are_read_in_any_case_and_remembered_within_bounds() -> None:
    headers = {"ce-specversion": "1.0", "Ce-Id": "1", "ce-source": "/s", "cE-TYPE": "t"}
    for _ in range(2):  # the second time from the remembered names
        [event] = from_http({**headers, "CE-Flavour": "x", "content-type": "text/plain"}, b"")
        assert (event.id, event.source, event.type) == ("1", "/s", "t")
        assert event.extensions == {"flavour": "x"}
    for n in range(3 * http.MAX_NAMES):  # names a client makes up are not all remembered
        http.attribute_of(f"x-junk-{n}")
        http.media_type(f"application/x-{n}")
    assert len(http._ATTRIBUTES) <= http.MAX_NAMES
    assert len(http._MEDIA_TYPES) <= http.MAX_NAMES
    assert http.attribute_of("CE-" + "A" * 200) == "a" * 200  # long ones are worked out


@pytest.mark.parametrize(
    ("headers", "body", "fragment"),
    [
        ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
        ({"content-type": "application/cloudevents+json"}, b"{not json", "not valid JSON"),
        ({"content-type": "application/cloudevents+json"}, b"[1]", "must be a JSON object"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion":"1.0","type":"t","source":"s"}',
            "'id'",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion":"1.0","type":"t","source":"s","id":7}',
            "'id'",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion":"1.0","type":"t","source":"s","id":"1","time":"yesterday"}',
            "'time'",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion":"0.2","type":"t","source":"s","id":"1"}',
            "specversion",
        ),
        ({"content-type": http.BATCH}, b'{"a": 1}', "JSON array"),
        ({"content-type": http.BATCH}, b'[{"specversion":"1.0"}]', "batch item 0"),
        (
            {
                "content-type": "application/json",
                "ce-specversion": "1.0",
                "ce-type": "t",
                "ce-source": "s",
                "ce-id": "1",
            },
            b"{broken",
            "data is not valid JSON",
        ),
        (
            {
                "content-type": "application/json",
                "ce-specversion": "1.0",
                "ce-type": "t",
                "ce-source": "s",
            },
            b"{}",
            "id",
        ),
    ],
)
def test_malformed_requests_raise_invalid_event_naming_the_problem(
    headers: dict[str, str], body: bytes, fragment: str
) -> None:
    with pytest.raises(InvalidEventError, match=None) as info:
        from_http(headers, body)
    assert fragment in str(info.value)


def test_unknown_structured_format_is_unsupported_media_type() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="application/cloudevents\\+xml"):
        from_http({"content-type": "application/cloudevents+xml"}, b"<event/>")


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_kafka_record_round_trips_and_keys_by_partitionkey(order: Event, mode: str) -> None:
    record = kafka.to_record(order, mode=mode)  # type: ignore[arg-type]
    assert record.key == "customer-7"
    decoded = kafka.from_record(record)
    assert decoded.id == order.id
    assert decoded.data == order.data
    assert decoded.partitionkey == "customer-7"


def test_kafka_record_key_becomes_partitionkey() -> None:
    record = kafka.to_record(make_event(data={"a": 1}))
    keyed = kafka.KafkaMessage(headers=record.headers, key=b"vehicle-9", value=record.value)
    assert kafka.from_record(keyed).partitionkey == "vehicle-9"


def test_kafka_record_without_cloudevent_headers_is_invalid() -> None:
    with pytest.raises(InvalidEventError, match="not a CloudEvent"):
        kafka.from_record(kafka.KafkaMessage(headers={}, key=None, value=b"hello"))


def test_kafka_headers_convert_between_tuples_and_dict() -> None:
    pairs = [("ce_id", b"1"), ("ce_type", None)]
    as_dict = kafka.headers_from_list(pairs)
    assert as_dict == {"ce_id": b"1", "ce_type": b""}
    assert kafka.headers_to_list(as_dict) == [("ce_id", b"1"), ("ce_type", b"")]
