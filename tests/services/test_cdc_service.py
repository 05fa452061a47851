"""The cdc service on the memory transport: the transform for every record shape the use case
names, and a batch with bad records (each dead-lettered raw with its reason, the rest emitted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from services.cdc.app import DATA_TRANSFORMED, DEBEZIUM_CHANGE, READING_CHANGED, create_app
from services.cdc.transform import BadRecord, transform

from tidal import Event
from tidal.testing import ManualClock, MemoryBroker, make_event

DEBEZIUM = Path(__file__).parents[1] / "conformance" / "debezium"


def reading(event_id: str, data: Any) -> Event:
    return make_event(READING_CHANGED, source="/debezium/postgresql/shop", id=event_id, data=data)


@pytest.mark.parametrize(
    ("data", "want"),
    [
        ({"id": "a", "value": 10, "source_table": "readings"}, (11, "readings")),
        ({"id": "a", "value": 0.1}, (0.11, "unknown")),
        ({"id": 7, "value": "2.5"}, (2.75, "unknown")),
        ({"NewImage": {"id": {"S": "a"}, "value": {"N": "10"}}}, (11, "unknown")),
        (
            {"NewImage": {"id": {"S": "a"}, "value": {"N": "3"}, "source_table": {"S": "t"}}},
            (3.3, "t"),
        ),
        ({"before": None, "after": {"id": "a", "value": 1}, "source": {"table": "s"}}, (1.1, "s")),
        ({"schema": {}, "payload": {"id": "a", "value": 20}}, (22, "unknown")),
    ],
)
def test_every_record_shape_transforms_exactly(data: Any, want: tuple[Any, str]) -> None:
    body = transform(data)
    assert body is not None
    assert (body["adjusted_value"], body["source_table"]) == want
    assert body["id"] in ("a", "7")


def test_a_delete_transforms_to_nothing() -> None:
    assert transform({"before": {"id": "a", "value": 1}, "after": None}) is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id": "a"}, "value"),
        ({"id": "a", "value": "ten"}, "value"),
        ({"id": "a", "value": True}, "value"),
        ({"id": "a", "value": "NaN"}, "value"),
        ({"value": 1}, "id"),
        ({"NewImage": {"id": {"S": "a"}, "value": {"X": "1"}}}, "attribute type"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_bad_record_names_what_is_wrong(data: Any, field: str) -> None:
    with pytest.raises(BadRecord, match=field):
        transform(data)


async def test_bad_records_are_dead_lettered_raw_and_the_rest_are_transformed(
    clock: ManualClock,
) -> None:
    broker = MemoryBroker(create_app(), clock=clock)
    good = [reading(f"e-{n}", {"id": f"r-{n}", "value": n}) for n in range(8)]
    bad = [reading("bad-1", {"id": "r-x", "value": "ten"}), reading("bad-2", {"value": 1})]
    for event in [*good[:4], bad[0], *good[4:], bad[1]]:
        await broker.publish(event)
    await broker.drain()
    emitted = [e for e in broker.published if e.type == DATA_TRANSFORMED]
    assert sorted(e.data["id"] for e in emitted) == sorted(f"r-{n}" for n in range(8))
    assert {e.data["id"]: e.data["adjusted_value"] for e in emitted}["r-3"] == 3.3
    letters = broker.all_dead_letters()
    assert sorted(letter.id for letter in letters) == ["bad-1", "bad-2"]  # the failed ids
    raw = {letter.id: letter.data for letter in letters}
    assert raw["bad-1"] == {"id": "r-x", "value": "ten"}
    assert "value" in letters[0].get_extension("tidalerrormessage")


async def test_a_debezium_row_change_takes_its_table_from_the_extension(
    clock: ManualClock,
) -> None:
    upstream = json.loads((DEBEZIUM / "cloudevents-postgresql.json").read_text())
    after = upstream["data"]["after"]  # {pk, name}: give the row the use case's columns
    after.update(id=after["pk"], value=5)
    event = make_event(
        DEBEZIUM_CHANGE,
        source=upstream["source"],
        id=upstream["id"],
        data=upstream["data"],
        iodebeziumtable=upstream["iodebeziumtable"],
    )
    broker = MemoryBroker(create_app(), clock=clock)
    await broker.publish(event)
    await broker.drain()
    [out] = [e for e in broker.published if e.type == DATA_TRANSFORMED]
    assert out.data == {"id": "1", "value": 5, "adjusted_value": 5.5, "source_table": "a"}
