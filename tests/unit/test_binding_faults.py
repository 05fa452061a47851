"""The binding faults of issues 14 and 17, one test each: what was accepted and must be refused,
what was refused and must be delivered, what was changed on its way out and must not be."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from tidal import App, DeliveryPolicy, Event
from tidal._attributes import parse_time
from tidal._bindings import http, kafka
from tidal._bindings.formats import MAX_DEPTH
from tidal._bindings.http import from_http
from tidal._deadletters import Failure, dead_letter
from tidal._dispatching import Dispatcher
from tidal._errors import InvalidEventError
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal._transports.kafka.letters import event_letter
from tidal._transports.kafka.records import Origin
from tidal.testing import make_event

BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
NANOS = "2026-11-23T10:15:00.123456789Z"
FAILURE = Failure(
    error_class="RuntimeError",
    message="boom",
    attempts=1,
    first_failure=datetime(2026, 11, 23, tzinfo=UTC),
    last_failure=datetime(2026, 11, 23, tzinfo=UTC),
    subscriber="shop/mailer",
)


def _structured(**members: object) -> bytes:
    return json.dumps(
        {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", **members}
    ).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = App("faults", policy=DeliveryPolicy.of(max_attempts=1))

    @app.on(type="t")
    def handle(event: Event) -> None:
        return None

    receiver = Receiver(dispatcher=Dispatcher(app), max_body_bytes=1 << 20)
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    return httpx.AsyncClient(transport=transport, base_url="http://tidal.test")


# -- HTTP: what is read ----------------------------------------------------------------------


async def test_an_overlong_percent_encoding_is_a_400_not_a_replacement_character(
    client: httpx.AsyncClient,
) -> None:
    headers = {**BINARY, "ce-subject": "a%C0%A0b", "content-type": "application/json"}
    with pytest.raises(InvalidEventError, match="not UTF-8"):
        from_http(headers, b"{}")
    async with client:
        answer = await client.post("/", headers=headers, content=b"{}")
    assert answer.status_code == 400
    assert "ce-subject" in answer.json()["message"]


def test_a_quoted_header_value_loses_its_quotes() -> None:
    [event] = from_http({**BINARY, "ce-subject": '"hello world"'}, b"")
    assert event.subject == "hello world"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [({"a": 1}, "not an object"), ([1], "not an array"), (1.5, "fraction"), (2**31, "32-bit")],
)
async def test_an_extension_outside_the_type_system_is_a_400(
    client: httpx.AsyncClient, value: object, fragment: str
) -> None:
    body = _structured(ext=value)
    with pytest.raises(InvalidEventError, match=fragment):
        from_http({"content-type": http.STRUCTURED}, body)
    async with client:
        answer = await client.post("/", headers={"content-type": http.STRUCTURED}, content=body)
    assert answer.status_code == 400


def test_a_null_attribute_is_unset() -> None:
    [event] = from_http({"content-type": http.STRUCTURED}, _structured(subject=None, x=None))
    assert "subject" not in event.get_attributes()
    assert "x" not in event.get_attributes()


# -- HTTP and Kafka: what is written ---------------------------------------------------------


def test_a_boolean_extension_goes_out_as_true_in_http_and_kafka() -> None:
    event = make_event("t", data={"a": 1}, flag=True, off=False, n=7)
    headers, _ = http.to_binary(event)
    assert (headers["ce-flag"], headers["ce-off"], headers["ce-n"]) == ("true", "false", "7")
    record = kafka.to_record(event)
    assert (record.headers["ce_flag"], record.headers["ce_off"]) == (b"true", b"false")
    _, body = http.to_structured(event)
    assert json.loads(body)["flag"] is True


def test_bytes_data_without_a_content_type_goes_out_unlabelled() -> None:
    event = Event({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}, b"\x00\xff")
    headers, body = http.to_binary(event)
    assert "content-type" not in headers
    assert body == b"\x00\xff"
    assert "content-type" not in kafka.to_record(event).headers


def test_the_dead_letter_of_a_data_base64_event_gains_no_content_type() -> None:
    [event] = from_http({"content-type": http.STRUCTURED}, _structured(data_base64="AP8="))
    headers, body = http.to_binary(dead_letter(event, FAILURE))
    assert "content-type" not in headers
    assert body == b"\x00\xff"


def test_a_nanosecond_time_reaches_the_dead_letter_as_it_arrived() -> None:
    [event] = from_http({**BINARY, "ce-time": NANOS}, b"")
    letter = dead_letter(event, FAILURE)
    assert http.to_binary(letter)[0]["ce-time"] == NANOS
    assert json.loads(http.to_structured(letter)[1])["time"] == NANOS
    assert kafka.to_record(letter).headers["ce_time"] == NANOS.encode()
    assert event.time == datetime(2026, 11, 23, 10, 15, 0, 123456, tzinfo=UTC)


def test_a_time_computed_from_an_arrived_one_is_written_from_its_value() -> None:
    later = parse_time(NANOS).replace(microsecond=0)
    assert make_event("t", time=later).text("time") == "2026-11-23T10:15:00Z"


# -- Kafka -----------------------------------------------------------------------------------


def test_a_binary_event_keyed_with_a_java_long_is_delivered() -> None:
    record = kafka.to_record(make_event("t", data={"a": 1}))
    key = (1234567890123).to_bytes(8, "big")  # not UTF-8
    headers = list(record.headers.items())
    event = kafka.from_consumed(headers, key, record.value)
    assert event.data == {"a": 1}
    assert event.partitionkey is None


def test_a_text_key_fills_in_partitionkey_but_never_replaces_it() -> None:
    record = kafka.to_record(make_event("t", partitionkey="inside"))
    headers = list(record.headers.items())
    assert kafka.from_consumed(headers, b"outside", record.value).partitionkey == "inside"
    unkeyed = [(n, v) for n, v in headers if n != "ce_partitionkey"]
    assert kafka.from_consumed(unkeyed, b"outside", record.value).partitionkey == "outside"


def test_a_structured_dead_letter_is_the_record_plus_the_failure_and_nothing_else() -> None:
    value = (
        b'{ "specversion": "1.0", "id": "1", "source": "/s", "type": "t",\n'
        b'  "time": "' + NANOS.encode() + b'", "data": {"total": 1.50} }\n'
    )
    headers = [("content-type", b"application/cloudevents+json")]
    event = kafka.from_consumed(headers, b"customer-7", value)
    assert event.partitionkey == "customer-7"  # derived from the key, for the handler

    class Record:
        topic, partition, offset, key = "orders", 0, 3_000_000_000, b"customer-7"

    Record.value, Record.headers = value, headers  # type: ignore[attr-defined]
    letter = event_letter(
        Record(), event, FAILURE, topic="orders.dlq", origin=Origin("orders", 0, 3_000_000_000)
    )  # type: ignore[arg-type]
    assert letter.value is not None
    assert letter.value.startswith(value.rstrip()[:-1].rstrip())
    written = json.loads(letter.value)
    assert "partitionkey" not in written
    assert written["time"] == NANOS
    assert written["tidaloffset"] == "3000000000"
    assert written["tidalerrorclass"] == "RuntimeError"


# -- issue 17: depth -------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_deep_json_in_a_kafka_record_is_invalid_in_either_mode(depth: int) -> None:
    """Invalid where it is declared JSON; undeclared, the value is opaque bytes."""
    binary = list(kafka.to_record(make_event("t", data={})).headers.items())
    with pytest.raises(InvalidEventError, match="nested deeper"):
        kafka.from_consumed(binary, None, _nested(depth))
    unlabelled = [(name, value) for name, value in binary if name != "content-type"]
    assert kafka.from_consumed(unlabelled, None, _nested(depth)).data == _nested(depth)
    structured = [("content-type", b"application/cloudevents+json")]
    value = _structured()[:-1] + b', "data": ' + _nested(depth) + b"}"
    with pytest.raises(InvalidEventError, match="nested deeper"):
        kafka.from_consumed(structured, None, value)


def test_data_nested_to_the_limit_is_read_in_every_mode() -> None:
    data = json.loads(_nested(MAX_DEPTH))
    event = make_event("t", data=data)
    for headers, body in (http.to_binary(event), http.to_structured(event), http.to_batch([event])):
        assert from_http(headers, body) == [event]
    for mode in ("binary", "structured"):
        assert kafka.from_record(kafka.to_record(event, mode=mode)) == event  # type: ignore[arg-type]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 960, 5_000])
async def test_deep_json_over_http_is_a_400_in_every_mode(
    client: httpx.AsyncClient, depth: int
) -> None:
    nested = _nested(depth)
    structured = _structured()[:-1] + b', "data": ' + nested + b"}"
    requests = [
        ({**BINARY, "content-type": "application/json"}, nested),
        ({"content-type": http.STRUCTURED}, structured),
        ({"content-type": http.BATCH}, b"[" + structured + b"]"),
    ]
    async with client:
        for headers, body in requests:
            answer = await client.post("/", headers=headers, content=body)
            assert answer.status_code == 400, answer.text
            assert "nested deeper" in answer.json()["message"]


@pytest.mark.parametrize("body", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"1e400"])
def test_json_no_encoder_could_write_back_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidEventError, match="not valid JSON"):
        from_http({**BINARY, "content-type": "application/json"}, body)


def test_one_subscription_per_app_reports_invalid_records_the_first_by_name() -> None:
    from tidal._transports.kafka.running import reporter

    app = App("shop")
    for name in ("mailer", "audit", "zebra"):
        app.on(type="t", name=name)(lambda event: None)
    assert reporter(app) == "audit"


@pytest.mark.parametrize("due", [b"100000000000000000", b"100000000000000000000", b"1" + b"0" * 30])
def test_a_retry_record_due_beyond_any_calendar_is_invalid_not_a_crash(due: bytes) -> None:
    from tidal._transports.kafka.retries import ATTEMPTS, NOT_BEFORE, RetryState

    headers = {ATTEMPTS: b"1", NOT_BEFORE: due}
    with pytest.raises(InvalidEventError, match="malformed"):
        RetryState.from_headers(
            {
                **headers,
                "tidal-first-failure": b"2026-11-23T10:00:00Z",
                "tidal-origin-topic": b"orders",
                "tidal-origin-partition": b"0",
                "tidal-origin-offset": b"1",
            }
        )
