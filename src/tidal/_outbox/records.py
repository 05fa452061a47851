"""One outbox row -> the Kafka record Debezium would write for it (pure; `relay` calls it).

The shape is Debezium's, so handlers written against tidal's relay keep working when Debezium on
Strimzi's KafkaConnect replaces it (upstream files cited in tests/conformance/debezium/README.md):

- the outbox event router SMT (``EventRouterConfigDefinition`` defaults): columns ``id``,
  ``aggregatetype``, ``aggregateid``, ``type``, ``payload``; topic
  ``outbox.event.${routedByValue}`` with the route-by value ``aggregatetype`` verbatim; key =
  ``aggregateid``; header ``id`` = the row id (``EventRouterDelegate``: ``headers.add("id", ...)``);
  with ``table.fields.additional.placement=type:header`` a ``type`` header too;
- the CloudEvents converter (``metadata.source=header``, JSON envelope and data, schemas off):
  a structured-mode JSON value ``{id, source: /debezium/postgresql/<name>, specversion: 1.0,
  type, time, datacontenttype: application/json, iodebezium* extensions, data}`` with ``id`` and
  ``type`` from those headers, ``iodebeziumop`` ``c`` (the router drops updates and deletes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

TOPIC_PREFIX: Final = "outbox.event."
CONNECTOR: Final = "postgresql"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A row of the outbox table: Debezium's default columns plus the relay's sequence."""

    seq: int
    id: str
    aggregatetype: str
    aggregateid: str
    type: str
    payload: Any
    created: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """What the relay produces: topic, key, headers and value, as Debezium writes them."""

    topic: str
    key: bytes
    headers: list[tuple[str, bytes]]
    value: bytes


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the rows come from: Debezium's ``topic.prefix`` (the CloudEvent ``source`` name),
    the database, schema and table names (``iodebezium*`` extensions)."""

    name: str = "tidal-outbox"
    db: str = "postgres"
    schema: str = "public"
    table: str = "outboxevent"


def topic_for(aggregatetype: str, prefix: str = TOPIC_PREFIX) -> str:
    """``outbox.event.${routedByValue}``: the route-by column's value, unchanged."""
    return f"{prefix}{aggregatetype}"


def _time(moment: datetime) -> str:
    """Debezium's ``ceTime``: ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX`` in UTC (``Z``)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def cloudevent(row: OutboxRow, origin: Origin) -> dict[str, Any]:
    """The structured CloudEvent the converter writes for ``row`` (extensions: op and source)."""
    millis = int(row.created.timestamp() * 1000)
    return {
        "id": row.id,
        "source": f"/debezium/{CONNECTOR}/{origin.name}",
        "specversion": "1.0",
        "type": row.type,
        "time": _time(row.created),
        "datacontenttype": "application/json",
        "iodebeziumop": "c",
        "iodebeziumconnector": CONNECTOR,
        "iodebeziumname": origin.name,
        "iodebeziumtsms": str(millis),
        "iodebeziumdb": origin.db,
        "iodebeziumschema": origin.schema,
        "iodebeziumtable": origin.table,
        "data": row.payload,
    }


def to_record(row: OutboxRow, origin: Origin, prefix: str = TOPIC_PREFIX) -> OutboxRecord:
    """The Kafka record for ``row``: routed topic, aggregate id key, ``id``/``type`` headers."""
    value = json.dumps(cloudevent(row, origin), separators=(",", ":"), ensure_ascii=False)
    return OutboxRecord(
        topic=topic_for(row.aggregatetype, prefix),
        key=row.aggregateid.encode("utf-8"),
        headers=[("id", row.id.encode("utf-8")), ("type", row.type.encode("utf-8"))],
        value=value.encode("utf-8"),
    )
