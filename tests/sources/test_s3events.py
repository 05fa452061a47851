"""`tidal._sources.s3events`: notifications -> CloudEvents, stable ids, decoded keys, bad input.

The attribute mapping itself is checked against the adapter's table in
tests/conformance/test_aws_s3_adapter.py; these are the decisions around it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tidal import InvalidEventError
from tidal._bindings import http
from tidal._sources.s3events import notification_events, object_key, parse_notification

RECORDS = Path(__file__).parents[1] / "conformance" / "aws_s3" / "records.json"


def s3_record() -> dict[str, Any]:
    return dict(json.loads(RECORDS.read_text())["records"][0])


def test_the_same_notification_always_maps_to_the_same_ids() -> None:
    body = json.dumps({"Records": [s3_record()]})
    assert [e.key for e in parse_notification(body)] == [e.key for e in parse_notification(body)]


def test_a_record_without_response_elements_gets_a_stable_name_based_id() -> None:
    record = s3_record()
    del record["responseElements"]
    first, again = (notification_events({"Records": [copy.deepcopy(record)]})[0] for _ in "ab")
    assert first.id == again.id
    record["eventTime"] = "2026-11-02T10:20:00.000Z"  # the same key uploaded again later
    assert notification_events({"Records": [record]})[0].id != first.id


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("upload_a+b.csv", "upload_a b.csv"),
        ("upload_a%2Bb.csv", "upload_a+b.csv"),
        ("dir/caf%C3%A9+photo.jpg", "dir/café photo.jpg"),
    ],
)
def test_object_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    record = s3_record()
    record["s3"]["object"]["key"] = encoded
    event = notification_events({"Records": [record]})[0]
    assert object_key(record) == decoded
    assert (event.subject, event.partitionkey) == (decoded, decoded)
    assert event.data["s3"]["object"]["key"] == encoded  # data is the record as sent


def test_each_record_of_a_notification_becomes_one_event() -> None:
    second = s3_record()
    second["responseElements"]["x-amz-request-id"] = "OTHER"
    events = notification_events({"Records": [s3_record(), second]})
    assert len(events) == 2
    assert len({e.id for e in events}) == 2


def test_s3s_test_event_maps_to_nothing() -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b", "RequestId": "r"}
    assert notification_events(body) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "must be JSON"),
        ("[]", "must be a JSON object"),
        ('{"Message": "x"}', "needs a 'Records' list"),
        ('{"Records": [1]}', "must be a JSON object"),
        ('{"Records": [{"eventSource": "aws:s3"}]}', "has no 's3.bucket.name'"),
    ],
)
def test_what_is_not_a_notification_is_refused_with_a_reason(body: str, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_notification(body)


def test_the_event_survives_the_http_binding() -> None:
    event = notification_events({"Records": [s3_record()]})[0]
    headers, body = http.to_binary(event)
    decoded = http.from_http(headers, body)[0]
    assert decoded == event
    assert decoded.time == datetime(2026, 11, 2, 10, 15, 30, 123000, tzinfo=UTC)


@pytest.mark.parametrize("elements", ["oops", None, [], {"x-amz-request-id": 7}])
def test_odd_response_elements_fall_back_to_the_name_based_id(elements: Any) -> None:
    record = s3_record()
    record["responseElements"] = elements
    [event] = notification_events({"Records": [record]})
    assert len(event.id) == 36  # a UUID, not a crash of the poller
