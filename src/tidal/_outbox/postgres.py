"""The outbox table in PostgreSQL (psycopg 3): schema, reading in order, deleting acknowledged rows.

`relay` calls `OutboxTable`; services call `ensure_schema` and `insert_sql` to write a row in
the same transaction as their state change. Rows are read in ``seq`` order (an identity column
assigned at insert): writers that lock the aggregate's state row before inserting its outbox row
(any UPDATE or INSERT ... ON CONFLICT on it does) insert one aggregate's rows in commit order, and
a row committed late is still read on a later poll because rows leave the table only when the
broker has acknowledged them. One relay at a time holds a session advisory lock per table.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tidal._outbox.records import OutboxRow

DEFAULT_TABLE: Final = "outboxevent"


def _table(name: str) -> sql.Composed:
    schema, _, table = name.rpartition(".")
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)  # type: ignore[return-value]


def schema_sql(table: str = DEFAULT_TABLE) -> sql.Composed:
    """The outbox table: Debezium's default columns, ``created``, and the relay's ``seq``."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} ("
        " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
        " id uuid PRIMARY KEY,"
        " aggregatetype varchar(255) NOT NULL,"
        " aggregateid varchar(255) NOT NULL,"
        " type varchar(255) NOT NULL,"
        " payload jsonb,"
        " created timestamptz NOT NULL DEFAULT clock_timestamp())"
    ).format(_table(table))


def insert_sql(table: str = DEFAULT_TABLE) -> sql.Composed:
    """``INSERT`` of one row: parameters id, aggregatetype, aggregateid, type, payload."""
    return sql.SQL(
        "INSERT INTO {} (id, aggregatetype, aggregateid, type, payload) VALUES (%s, %s, %s, %s, %s)"
    ).format(_table(table))


def payload(value: Any) -> Jsonb:
    """A payload parameter for `insert_sql` (stored as ``jsonb``)."""
    return Jsonb(value)


async def ensure_schema(conn: psycopg.AsyncConnection[Any], table: str = DEFAULT_TABLE) -> None:
    await conn.execute(schema_sql(table))


class OutboxTable:
    """The relay's side of the table over one autocommit connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], table: str = DEFAULT_TABLE) -> None:
        self._conn = conn
        self._name = table
        self._table = _table(table)
        self._lock_key = zlib.crc32(f"tidal-outbox:{table}".encode())

    @classmethod
    async def connect(cls, dsn: str, table: str = DEFAULT_TABLE) -> OutboxTable:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        return cls(conn, table)

    async def close(self) -> None:
        await self._conn.close()

    async def ensure_schema(self) -> None:
        """Create the table if it is missing."""
        await ensure_schema(self._conn, self._name)

    async def try_lock(self) -> bool:
        """Become the one relay of this table (released when the connection closes)."""
        cursor = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def pending(self, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows, oldest ``seq`` first."""
        query = sql.SQL(
            "SELECT seq, id::text AS id, aggregatetype, aggregateid, type, payload, created"
            " FROM {} ORDER BY seq LIMIT %s"
        ).format(self._table)
        async with self._conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query, (limit,))
            return [OutboxRow(**row) for row in await cursor.fetchall()]

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete the acknowledged rows; returns how many were there."""
        if not ids:
            return 0
        query = sql.SQL("DELETE FROM {} WHERE id = ANY(%s::uuid[])").format(self._table)
        cursor = await self._conn.execute(query, (list(ids),))
        return cursor.rowcount
