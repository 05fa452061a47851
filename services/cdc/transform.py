"""The CDC transform, pure: one change record -> ``{id, value, adjusted_value, source_table}``.

`services.cdc.app` calls `transform`. A record is the ``data`` of one event in any of three
shapes: a Debezium row change (``{before, after, source}``, also inside Kafka Connect's
``{schema, payload}`` JSON envelope), a DynamoDB-stream-like ``{NewImage: {name: {S|N|...}}}``,
or a plain body ``{id, value, source_table?}``. Typed values are unwrapped; ``adjusted_value`` is
``value * 1.1`` in exact decimal arithmetic; ``source_table`` defaults to ``unknown``. A record
that cannot be transformed raises `BadRecord` naming the field (the handler dead-letters it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from tidal import PermanentError

FACTOR: Final = Decimal("1.1")
UNKNOWN_TABLE: Final = "unknown"


class BadRecord(PermanentError):
    """A change record that cannot be transformed; retrying cannot help."""


def unwrap(typed: Any) -> Any:
    """A DynamoDB attribute value (``{"S": ...}``, ``{"N": "10"}``, ``M``, ``L``, ``BOOL``,
    ``NULL``) -> plain Python; ``N`` becomes a `Decimal`."""
    if not isinstance(typed, Mapping) or len(typed) != 1:
        raise BadRecord(f"not a typed attribute value: {typed!r}")
    ((kind, value),) = typed.items()
    if kind == "N":
        return _decimal(value, "N")
    if kind in ("S", "BOOL"):
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: unwrap(item) for name, item in dict(value).items()}
    if kind == "L":
        return [unwrap(item) for item in value]
    raise BadRecord(f"unsupported attribute type {kind!r}")


def row_of(data: Any) -> tuple[Mapping[str, Any] | None, str | None]:
    """The changed row and the table it names (None: a delete, nothing to transform)."""
    if not isinstance(data, Mapping):
        raise BadRecord("record is not a JSON object")
    if set(data) == {"schema", "payload"}:  # Kafka Connect's JsonConverter with schemas on
        return row_of(data["payload"])
    if "NewImage" in data:
        image = data["NewImage"]
        if not isinstance(image, Mapping):
            raise BadRecord("NewImage is not a map of typed values")
        row = {name: unwrap(value) for name, value in image.items()}
        return row, _str_or_none(row.get("source_table"))
    if "after" in data and "before" in data:
        source = data.get("source")
        table = source.get("table") if isinstance(source, Mapping) else None
        after = data["after"]
        if after is not None and not isinstance(after, Mapping):
            raise BadRecord("after is not a row")
        return after, _str_or_none(table)
    return data, _str_or_none(data.get("source_table"))


def transform(data: Any, *, table_hint: str | None = None) -> dict[str, Any] | None:
    """The DataTransformed body for ``data`` (None for a delete)."""
    row, table = row_of(data)
    if row is None:
        return None
    record_id = row.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int) or record_id == "":
        raise BadRecord(f"id: expected a non-empty string or integer, got {record_id!r}")
    value = _decimal(row.get("value"), "value")
    source_table = row.get("source_table") or table or table_hint or UNKNOWN_TABLE
    return {
        "id": str(record_id),
        "value": _number(value),
        "adjusted_value": _number(value * FACTOR),
        "source_table": str(source_table),
    }


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise BadRecord(f"{field}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadRecord(f"{field}: {value!r} is not a number") from None
    if not number.is_finite():
        raise BadRecord(f"{field}: {value!r} is not a finite number")
    return number


def _number(value: Decimal) -> int | float:
    """A JSON number: an integer when exact, else the nearest float (finite by construction)."""
    if value == value.to_integral_value():
        return int(value)
    result = float(value)
    assert math.isfinite(result)
    return result


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
