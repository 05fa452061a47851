"""The example writer: a reading's state row and its outbox event in ONE database transaction.

Tests and ``services.cdc.demo`` call `Writer`. ``readings`` holds the current value
per id; the upsert locks that row, so two writers of one reading commit in the order they
insert outbox rows (what keeps one aggregate's events in order for the relay). The outbox row
is Debezium's default shape (``id``, ``aggregatetype``, ``aggregateid``, ``type``, ``payload``)
plus the ``seq`` and ``created`` columns tidal's relay orders by; ``tidal outbox relay`` creates
the same table if it is missing.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from services.cdc.app import READING_CHANGED

AGGREGATE: Final = "reading"
EVENT_IDS: Final = uuid.UUID("5f0c6d1e-8f5b-4d55-9a43-0c1d2e3f4a5b")
SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS readings ("
    " id text PRIMARY KEY, value jsonb, source_table text, version bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outboxevent ("
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE, id uuid PRIMARY KEY,"
    " aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL,"
    " type varchar(255) NOT NULL, payload jsonb,"
    " created timestamptz NOT NULL DEFAULT clock_timestamp())"
)
UPSERT: Final = (
    "INSERT INTO readings (id, value, source_table, version) VALUES (%s, %s, %s, 1)"
    " ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value,"
    " source_table = EXCLUDED.source_table, version = readings.version + 1"
    " RETURNING version"
)
OUTBOX: Final = (
    "INSERT INTO outboxevent (id, aggregatetype, aggregateid, type, payload)"
    " VALUES (%s, %s, %s, %s, %s)"
)


class Writer:
    """Writes readings over one connection; each `write` is one transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @classmethod
    def connect(cls, dsn: str) -> Writer:
        conn = psycopg.connect(dsn)
        with conn.transaction():
            conn.execute(SCHEMA)
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    def write(self, reading_id: str, value: Any, source_table: str | None = "readings") -> str:
        """Upsert the reading and insert its ``reading.changed`` event (id: the reading's id and
        new version); returns the event id.
        ``value`` is stored as given (the transform decides whether it is a number)."""
        payload = {"id": reading_id, "value": value}
        if source_table is not None:
            payload["source_table"] = source_table
        with self._conn.transaction():
            row = self._conn.execute(UPSERT, (reading_id, Jsonb(value), source_table)).fetchone()
            assert row is not None  # RETURNING always gives the row
            # the event's id is the reading's version: stable, never a random token
            event_id = str(uuid.uuid5(EVENT_IDS, f"{reading_id}:{row[0]}"))
            self._conn.execute(
                OUTBOX, (event_id, AGGREGATE, reading_id, READING_CHANGED, Jsonb(payload))
            )
        return event_id
