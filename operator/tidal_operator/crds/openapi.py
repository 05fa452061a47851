"""Builders for OpenAPI v3 structural schemas, as apiextensions.k8s.io/v1 accepts them.

Every node gets a ``type`` and a ``description`` (the generated CRD reference in
``docs/operator.md`` is read off them). Only what a structural schema allows is produced: no
``uniqueItems`` (``x-kubernetes-list-type: set`` instead), no ``additionalProperties`` next to
``properties``. Called by the CRD modules beside this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

Schema = dict[str, Any]

# Patterns shared by both kinds; the operator re-checks the ones a regex cannot express.
DNS_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY: Final = r"^[-._a-zA-Z0-9]+$"
TOPIC: Final = r"^[a-zA-Z0-9._-]+$"
BOOTSTRAP: Final = r"^[^\s,:]+:[0-9]{1,5}(,[^\s,:]+:[0-9]{1,5})*$"
BUCKET: Final = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
PREFIX: Final = r"^([^/\s][^\s]*/)?$"
ENDPOINT: Final = r"^https?://[^\s/]+(/[^\s]*)?$"
REGION: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DURATION: Final = r"^([0-9]+(s|m|h|d|w))+$"
CRON: Final = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$"


def _described(schema: Schema, description: str, extra: Mapping[str, Any]) -> Schema:
    schema["description"] = description
    schema.update({key: value for key, value in extra.items() if value is not None})
    return schema


def string(
    description: str,
    *,
    pattern: str | None = None,
    enum: Sequence[str] | None = None,
    default: str | None = None,
    max_length: int | None = None,
    min_length: int | None = None,
    format: str | None = None,
) -> Schema:
    """A string node; ``enum`` and ``pattern`` are the usual validations."""
    return _described(
        {"type": "string"},
        description,
        {
            "pattern": pattern,
            "enum": list(enum) if enum is not None else None,
            "default": default,
            "maxLength": max_length,
            "minLength": min_length,
            "format": format,
        },
    )


def integer(
    description: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> Schema:
    """A 64-bit integer node with optional bounds."""
    return _described(
        {"type": "integer", "format": "int64"},
        description,
        {"minimum": minimum, "maximum": maximum, "default": default},
    )


def boolean(description: str, *, default: bool | None = None) -> Schema:
    """A boolean node."""
    return _described({"type": "boolean"}, description, {"default": default})


def array(
    items: Schema,
    description: str,
    *,
    min_items: int | None = None,
    max_items: int | None = None,
    list_type: str = "atomic",
    map_keys: Sequence[str] | None = None,
) -> Schema:
    """An array node; ``list_type`` is ``atomic``, ``set`` (no duplicates) or ``map``."""
    return _described(
        {"type": "array", "items": items},
        description,
        {
            "minItems": min_items,
            "maxItems": max_items,
            "x-kubernetes-list-type": list_type,
            "x-kubernetes-list-map-keys": list(map_keys) if map_keys else None,
        },
    )


def obj(
    description: str,
    properties: Mapping[str, Schema],
    *,
    required: Sequence[str] = (),
    default: Mapping[str, Any] | None = None,
    rules: Sequence[tuple[str, str]] = (),
) -> Schema:
    """An object node; ``rules`` are CEL ``(rule, message)`` pairs (x-kubernetes-validations)."""
    return _described(
        {"type": "object", "properties": dict(properties)},
        description,
        {
            "required": list(required) or None,
            "default": dict(default) if default is not None else None,
            "x-kubernetes-validations": [
                {"rule": rule, "message": message} for rule, message in rules
            ]
            or None,
        },
    )


def string_map(description: str, *, max_properties: int = 64) -> Schema:
    """A map of string to string (labels, annotations)."""
    return _described(
        {"type": "object", "additionalProperties": {"type": "string"}},
        description,
        {"maxProperties": max_properties},
    )
