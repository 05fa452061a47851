"""The CloudEvents AWS S3 adapter's mapping table, read from the vendored spec, against
`tidal._sources.s3events.record_event`.

Each row of the table in ``aws_s3/aws-s3.md`` is interpreted as written: ``"a.b"`` reads that
field of the S3 event record, a back-quoted text is itself, ``+`` concatenates, ``Omit`` means
the attribute is absent, ``S3 event`` is the record. Where tidal differs on purpose the
difference is listed in `DIFFERENCES` with the reason (docs/events.md repeats them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tidal._sources.s3events import record_event

HERE = Path(__file__).parent / "aws_s3"
ROW = re.compile(r"^\|\s*`(?P<attribute>[a-z]+)`\s*\|\s*(?P<value>.+?)\s*\|\s*$")
TOKEN = re.compile(r'"(?P<field>[^"]+)"(?:\s+value)?|`(?P<literal>[^`]*)`|\+')

# attribute -> why tidal's value is not the table's, and how it is derived from the table's
DIFFERENCES: dict[str, str] = {
    # The table writes "s3.buckets.name"; the notification's field is s3.bucket.name (the
    # record structure AWS documents; moto and MinIO send the same). Read as the latter.
    "source": "field s3.buckets.name read as s3.bucket.name",
    # S3 form-encodes the key in a notification ("+" for a space); the subject is the object's
    # name, decoded (the record in data keeps the encoded text).
    "subject": "URL-decoded",
}


def table() -> dict[str, str]:
    rows = {}
    for line in (HERE / "aws-s3.md").read_text().splitlines():
        if (match := ROW.match(line)) is not None:
            rows[match["attribute"]] = match["value"]
    return rows


def records() -> list[dict[str, Any]]:
    return list(json.loads((HERE / "records.json").read_text())["records"])


def evaluate(expression: str, record: dict[str, Any]) -> Any:
    if expression == "Omit":
        return None
    if expression == "S3 event":
        return record
    if expression.startswith("S3 event type"):  # "(e.g. `application/json`)": the JSON record
        return "application/json"
    parts = []
    for token in TOKEN.finditer(expression):
        if token["field"]:
            parts.append(lookup(record, token["field"]))
        elif token["literal"] is not None:
            parts.append(token["literal"])
    return "".join(parts)


def lookup(record: dict[str, Any], path: str) -> str:
    if path == "s3.buckets.name":
        path = "s3.bucket.name"
    value: Any = record
    for name in path.split("."):
        value = value[name]
    return str(value)


def test_the_vendored_table_has_every_row_of_the_adapter() -> None:
    assert set(table()) == {
        "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject",
        "time", "data",
    }  # fmt: skip


@pytest.mark.parametrize("record", records(), ids=lambda r: r["eventSource"])
@pytest.mark.parametrize("attribute", sorted(table()))
def test_each_attribute_is_mapped_as_the_adapter_table_says(
    record: dict[str, Any], attribute: str
) -> None:
    event = record_event(record)
    expected = evaluate(table()[attribute], record)
    if attribute == "subject":
        expected = unquote_plus(expected)
    if attribute == "data":
        assert event.data == expected
        return
    actual = event.get_attributes().get(attribute)
    if attribute == "time":
        actual = actual.text
    assert actual == expected


def test_the_differences_are_only_the_listed_ones() -> None:
    record = records()[0]
    event = record_event(record)
    assert event.subject != record["s3"]["object"]["key"]
    assert event.subject == "upload_2026-11 sales+q3.csv"
    assert event.source == "aws:s3.eu-west-1.acme-uploads"
    assert set(DIFFERENCES) == {"source", "subject"}
