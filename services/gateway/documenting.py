"""The OpenAPI description of the gateway's request bodies, headers and answers.

The routes read raw requests (to control limits and errors), so FastAPI cannot infer their
bodies; `api` attaches these as ``openapi_extra``. Body schemas come from the event catalogue,
so the documentation and the validation cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from services.catalog import Catalog
from services.gateway import mapping
from services.gateway.errors import ErrorBody

BEARER: Final[list[dict[str, list[str]]]] = [{"bearerAuth": []}]
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "malformed: not JSON, not a CloudEvent, bad header"),
        (401, "missing or wrong bearer token or signature"),
        (413, "body over the size limit (256 KiB)"),
        (415, "unsupported content-type"),
        (422, "off-schema: the field is named"),
        (503, "the broker did not take the events; retry after Retry-After seconds"),
    )
}

TIMELINE_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "missing or wrong bearer token"),
        (
            404,
            "not_found: no saga for this order; timeline_disabled: the gateway has no"
            " GATEWAY_SAGA_REDIS_URL",
        ),
        (503, "dependency_unavailable: the saga's Redis did not answer; retry after Retry-After"),
    )
}

REPLAYED: Final[dict[int | str, dict[str, Any]]] = {
    409: {
        "model": ErrorBody,
        "description": "the same signed request has been publishing for over 5 s; retry later "
        "(a replay of one already published is answered 202, as it was, and not published)",
    }
}


def plain(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A catalogue schema as an OpenAPI 3.1 schema object (no ``$id``/``$schema``/notes)."""
    drop = {"$schema", "$id", "x-event", "examples"}
    return {k: v for k, v in schema.items() if k not in drop}


def _header(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _json_body(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": dict(schema)}}}


def events_extra() -> dict[str, Any]:
    structured = {
        "type": "object",
        "required": ["specversion", "id", "source", "type"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1},
            "source": {"type": "string", "minLength": 1},
            "type": {"type": "string", "minLength": 1},
            "time": {"type": "string", "format": "date-time"},
            "partitionkey": {"type": "string"},
            "data": {"type": "object"},
        },
    }
    ce_headers = [
        _header(f"ce-{name}", f"binary mode: the event's {name}", required=False)
        for name in ("specversion", "id", "source", "type")
    ]
    return {
        "security": BEARER,
        "parameters": ce_headers,
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": structured},
                "application/cloudevents-batch+json": {
                    "schema": {"type": "array", "items": structured}
                },
                "application/json": {"schema": {"type": "object"}},
            },
        },
    }


def telemetry_extra(catalog: Catalog) -> dict[str, Any]:
    entry = catalog.get(mapping.TELEMETRY)
    assert entry is not None
    return {"security": BEARER, "requestBody": _json_body(plain(entry.schema))}


def pos_extra(catalog: Catalog) -> dict[str, Any]:
    entry = catalog.get(mapping.ORDER_CONFIRMED)
    assert entry is not None
    return {
        "parameters": [
            _header("X-Acme-Timestamp", "unix seconds when the POS signed the body"),
            _header("X-Acme-Signature", "v1=<hex HMAC-SHA256 of '<timestamp>.<body>'>"),
        ],
        "requestBody": _json_body(plain(entry.schema)),
    }


def payments_extra() -> dict[str, Any]:
    envelope = dict(mapping.PAYMENT_WEBHOOK)
    return {
        "parameters": [
            _header("Stripe-Signature", "t=<unix seconds>,v1=<hex HMAC-SHA256 of 't.<body>'>")
        ],
        "requestBody": _json_body(envelope),
    }


SECURITY_SCHEMES: Final = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
DESCRIPTION: Final = """\
Takes events from producers and webhooks, checks them against the versioned event catalogue
(docs/events.md) and publishes them to the broker (a Kafka topic, or the Knative sink).

* `POST /events`: CloudEvents in binary, structured or batched mode (bearer token).
* `POST /telemetry`: a vehicle's reading as plain JSON (bearer token).
* `POST /webhooks/pos`: a POS transaction, signed with HMAC-SHA256.
* `POST /webhooks/payments`: a Stripe-style payment webhook, signed.
* `GET /orders/{order_id}/timeline`: an order saga's state and step changes (bearer token;
  enabled by `GATEWAY_SAGA_REDIS_URL`, else 404 `timeline_disabled`).

Accepted requests get **202** with the ids of the published events. Bodies over 256 KiB get 413;
errors are `{"error", "message", "field"}` with 400 / 401 / 404 / 413 / 415 / 422 / 503, never
500.
"""
