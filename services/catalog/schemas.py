"""Loading the catalogue's schemas and validating event data against them, naming the field.

`load_catalog` reads every ``events/*.json`` once (cached); `Catalog.validate` raises
`SchemaViolation` (an `InvalidEventError`) whose ``field`` is the dotted path of the offending
value, e.g. ``metrics.speedKph`` or ``items[2].qty``.

Valid data (nearly all of it) is accepted by a compiled ``jsonschema-rs`` validator in a few
microseconds, with the same date-time check; only data it refuses goes through ``jsonschema``,
whose errors name the field (and which has the last word). Validating one reading with
``jsonschema`` alone took ~150 µs, the largest share of a gateway request and of a fleet reading.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match

from tidal import InvalidEventError

EVENTS_DIR: Final = Path(__file__).resolve().parent / "events"
FORMATS: Final = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    """RFC 3339: a date, a time and an offset (``Z`` or ``+hh:mm``)."""
    if not isinstance(value, str):
        return True  # the type keyword judges non-strings
    if "T" not in value.upper():
        return False
    return datetime.fromisoformat(value).tzinfo is not None


def _datetime_or_false(value: str) -> bool:
    """`_is_datetime` for jsonschema-rs, which wants a plain yes or no."""
    try:
        return _is_datetime(value)
    except ValueError:
        return False


class SchemaViolation(InvalidEventError):
    """Event data does not match its schema; ``field`` names where (``""``: the whole data)."""

    def __init__(self, event_type: str, field: str, message: str) -> None:
        where = f"data.{field}" if field else "data"
        super().__init__(f"{where}: {message} (schema {event_type})")
        self.event_type = event_type
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class EventSchema:
    """One catalogue entry: the event type, its JSON Schema and the catalogue's notes on it."""

    type: str
    schema: Mapping[str, Any]
    validator: Draft202012Validator = field(repr=False, compare=False)
    fast: jsonschema_rs.Draft202012Validator = field(repr=False, compare=False)

    @property
    def title(self) -> str:
        return str(self.schema.get("title", self.type))

    @property
    def description(self) -> str:
        return str(self.schema.get("description", ""))

    @property
    def notes(self) -> Mapping[str, Any]:
        """The ``x-event`` block: source, id, partitionkey, producers, consumers, ingress."""
        notes: Mapping[str, Any] = self.schema.get("x-event", {})
        return notes

    @property
    def ingress(self) -> bool:
        """True when the gateway accepts this type from outside."""
        return bool(self.notes.get("ingress", False))

    def validate(self, data: Any) -> None:
        """Raise `SchemaViolation` naming the first offending field, or return."""
        if self._accepted_fast(data):
            return
        error = best_match(self.validator.iter_errors(data))
        if error is not None:
            raise SchemaViolation(self.type, *describe(error))

    def _accepted_fast(self, data: Any) -> bool:
        try:
            return self.fast.is_valid(data)
        except (TypeError, ValueError):  # not JSON-shaped (a non-str key): the slow path says why
            return False


class Catalog:
    """Every event type of the catalogue, by type name."""

    def __init__(self, entries: Mapping[str, EventSchema]) -> None:
        self._entries = dict(entries)

    def __iter__(self) -> Iterator[EventSchema]:
        return iter(sorted(self._entries.values(), key=lambda e: e.type))

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._entries

    def get(self, event_type: str) -> EventSchema | None:
        return self._entries.get(event_type)

    def validate(self, event_type: str, data: Any) -> None:
        """Check ``data`` against the schema of ``event_type`` (which must be catalogued)."""
        entry = self._entries.get(event_type)
        if entry is None:
            raise InvalidEventError(f"type: {event_type!r} is not in the event catalogue")
        entry.validate(data)


@functools.cache
def load_catalog(directory: Path = EVENTS_DIR) -> Catalog:
    """Read and check every schema under ``directory`` (file name = event type + ``.json``)."""
    entries = {}
    for path in sorted(directory.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        event_type = path.name.removesuffix(".json")
        validator = Draft202012Validator(schema, format_checker=FORMATS)
        fast = jsonschema_rs.Draft202012Validator(
            schema, validate_formats=True, formats={"date-time": _datetime_or_false}
        )
        entries[event_type] = EventSchema(event_type, schema, validator, fast)
    return Catalog(entries)


def describe(error: ValidationError) -> tuple[str, str]:
    """(dotted field path, message) for a validation error; the missing or extra property is
    part of the path for ``required`` and ``additionalProperties``."""
    path = list(error.absolute_path)
    instance, required, schema = error.instance, error.validator_value, error.schema
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [p for p in required if p not in instance] if isinstance(required, list) else []
        if missing:
            return _dotted([*path, missing[0]]), "is required"
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        allowed = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        extra = [p for p in instance if p not in allowed]
        if extra:
            return _dotted([*path, extra[0]]), "is not an allowed property"
    return _dotted(path), _short(error.message)


def _dotted(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
