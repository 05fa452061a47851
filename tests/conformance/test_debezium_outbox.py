"""tidal's outbox relay against Debezium's outbox event router + CloudEvents converter.

The vendored records (tests/conformance/debezium, README there) are the oracle: the relay's
record for Debezium's example row has Debezium's key, headers, topic rule and value, and tidal's
Kafka binding reads the converter's output (a structured event with no content-type header).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidal._bindings.kafka import KafkaMessage, from_consumed, from_record
from tidal._outbox.records import Origin, OutboxRow, to_record

HERE = Path(__file__).parent / "debezium"


def vendored(name: str) -> Any:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def example_row() -> tuple[OutboxRow, dict[str, Any]]:
    case = vendored("outbox-message.json")
    row = case["row"]
    created = datetime.fromtimestamp(row["timestamp"] / 1000, UTC)
    outbox = OutboxRow(
        seq=1,
        id=row["id"],
        aggregatetype=row["aggregatetype"],
        aggregateid=row["aggregateid"],
        type=row["type"],
        payload=json.loads(row["payload"]),  # a jsonb column; the router's expand.json.payload
        created=created,
    )
    return outbox, case["message"]


def test_the_relay_keys_routes_and_heads_a_row_as_the_event_router_does() -> None:
    row, message = example_row()
    record = to_record(row, Origin(name="dbserver1-bare", db="orderdb", schema="inventory"))
    assert record.key == message["key"].encode()
    headers = dict(record.headers)
    assert headers["id"] == row.id.encode()  # EventRouterDelegate l. 161: the id column
    assert headers["type"] == b"OrderCreated"  # additional placement type:header
    # the route-by value through (?<routedByValue>.*) -> outbox.event.${routedByValue}
    assert record.topic == "outbox.event.Order"
    assert record.topic.lower() == message["topic_documented"]


def test_the_relay_value_is_the_converters_envelope_around_the_payload() -> None:
    row, message = example_row()
    record = to_record(row, Origin(name="dbserver1-bare", db="orderdb", schema="inventory"))
    value = json.loads(record.value)
    assert value["data"] == json.loads(message["value"])
    upstream = vendored("cloudevents-postgresql.json")
    ours = set(value)
    assert {"id", "source", "specversion", "type", "time", "datacontenttype", "data"} <= ours
    # every attribute we write is one the PostgreSQL connector's converter writes
    assert ours <= set(upstream), ours - set(upstream)
    assert value["source"] == "/debezium/postgresql/dbserver1-bare"
    assert value["id"] == row.id
    assert value["type"] == row.type
    assert value["time"] == "2019-05-03T13:31:34.344Z"  # ceTime's pattern, UTC
    assert value["iodebeziumop"] == "c"
    assert value["iodebeziumtable"] == "outboxevent"


def test_tidals_binding_reads_the_converters_record_without_a_content_type() -> None:
    upstream = vendored("cloudevents-postgresql.json")
    raw = json.dumps(upstream).encode()
    for event in (
        from_record(KafkaMessage(headers={}, key=b'{"pk":1}', value=raw)),
        from_consumed([], b'{"pk":1}', raw),
    ):
        assert event.id == "name:test_server;lsn:29274832;txId:565"
        assert event.type == "io.debezium.connector.postgresql.DataChangeEvent"
        assert event.source == "/debezium/postgresql/test_server"
        assert event.extensions["iodebeziumop"] == "r"
        assert event.extensions["iodebeziumtable"] == "a"
        assert event.data == {"before": None, "after": {"pk": 1, "name": "Bob"}}


def test_tidals_binding_reads_the_relays_record_as_a_handler_would_see_it() -> None:
    row, _ = example_row()
    record = to_record(row, Origin())
    event = from_consumed(record.headers, record.key, record.value)
    assert event.id == row.id
    assert event.type == "OrderCreated"
    assert event.data == row.payload
