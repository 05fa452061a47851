"""The event catalogue: well-formed schemas named after their types, examples that validate,
errors that name the field, and docs/events.md rendered from it without drift."""

from __future__ import annotations

import re

import pytest
from services.catalog import Catalog, SchemaViolation
from services.catalog.rendering import DOC, render

from tidal import InvalidEventError

TYPE_NAME = re.compile(r"^com\.acme\.[a-z]+(\.[a-z][a-z-]*)+\.v[0-9]+$")


def test_every_schema_is_named_after_a_versioned_reverse_dns_type(catalog: Catalog) -> None:
    types = [entry.type for entry in catalog]
    assert len(types) == 27
    for entry in catalog:
        assert TYPE_NAME.match(entry.type), entry.type
        assert entry.schema["$id"] == f"urn:tidal:event:{entry.type}"
        assert {"source", "id", "partitionkey", "producedBy", "consumedBy"} <= set(entry.notes)


def test_every_example_validates_against_its_schema(catalog: Catalog) -> None:
    for entry in catalog:
        assert entry.schema["examples"], entry.type
        for example in entry.schema["examples"]:
            entry.validate(example)


def test_only_the_three_outside_types_are_accepted_at_ingress(catalog: Catalog) -> None:
    assert sorted(e.type for e in catalog if e.ingress) == [
        "com.acme.fleet.telemetry.v1",
        "com.acme.payments.checkout.completed.v1",
        "com.acme.pos.order.confirmed.v1",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["metrics"].update(speedKph=-1), "metrics.speedKph"),
        (lambda d: d.pop("messageId"), "messageId"),
        (lambda d: d["coordinates"].update(extra=1), "coordinates.extra"),
        (lambda d: d.update(timestamp="2026-11-02"), "timestamp"),
        (lambda d: d["engineTemperature"].update(unit="K"), "engineTemperature.unit"),
    ],
)
def test_a_violation_names_the_offending_field(
    catalog: Catalog, change: object, field: str
) -> None:
    entry = catalog.get("com.acme.fleet.telemetry.v1")
    assert entry is not None
    data = {**entry.schema["examples"][0]}
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    change(data)  # type: ignore[operator]
    with pytest.raises(SchemaViolation) as caught:
        entry.validate(data)
    assert caught.value.field == field
    assert f"data.{field}" in str(caught.value)
    assert isinstance(caught.value, InvalidEventError)


def test_an_unknown_type_is_an_invalid_event(catalog: Catalog) -> None:
    with pytest.raises(InvalidEventError, match="not in the event catalogue"):
        catalog.validate("com.acme.unknown.v1", {})


def test_docs_events_md_is_rendered_from_the_catalogue(catalog: Catalog) -> None:
    """Fails when a schema changed without `python -m services.catalog.rendering --write`."""
    assert DOC.read_text(encoding="utf-8") == render(catalog)
