"""The cdc App: change records -> ``DataTransformed`` (`transform`), bad records dead-lettered.

Subscriptions, one record per event:

- ``outbox``: ``com.acme.cdc.reading.changed.v1``, what `services.cdc.writer` puts in the outbox
  (relayed by ``tidal outbox relay``, or by Debezium's outbox event router + CloudEvents
  converter: the same records);
- ``debezium``: ``io.debezium.connector.postgresql.DataChangeEvent``, a Debezium row change
  through its CloudEvents converter (``source_table`` from the ``iodebeziumtable`` extension).

A record that cannot be transformed raises `BadRecord` (a PermanentError): that event alone is
dead-lettered, raw, with the reason; the records around it are transformed and committed, so a
batch's failures are the dead letters' ids. ``DataTransformed`` ids come from ``ctx.derive``, so
a redelivered record re-emits the same id. ``tidal run services.cdc.app:app`` serves ``app``.
"""

from __future__ import annotations

from typing import Final

from services.catalog import Catalog, load_catalog
from services.cdc.transform import transform
from tidal import App, Context, DeliveryPolicy, Event

READING_CHANGED: Final = "com.acme.cdc.reading.changed.v1"
DEBEZIUM_CHANGE: Final = "io.debezium.connector.postgresql.DataChangeEvent"
DATA_TRANSFORMED: Final = "com.acme.cdc.data.transformed.v1"
POLICY: Final = DeliveryPolicy.of(
    max_attempts=5, delay="PT0.5S", max_delay="PT30S", timeout="PT10S"
)


def create_app(*, catalog: Catalog | None = None, policy: DeliveryPolicy = POLICY) -> App:
    """The cdc App; emitted events are validated against the catalogue."""
    schemas = catalog or load_catalog()
    app = App("cdc", policy=policy)

    def transformed(event: Event, ctx: Context, table_hint: str | None) -> Event | None:
        body = transform(event.data, table_hint=table_hint)
        if body is None:  # a delete: nothing to adjust
            return None
        schemas.validate(DATA_TRANSFORMED, body)
        return ctx.derive(type=DATA_TRANSFORMED, data=body, partitionkey=body["id"])

    @app.on(type=READING_CHANGED, name="outbox")
    async def outbox(event: Event, ctx: Context) -> Event | None:
        return transformed(event, ctx, None)

    @app.on(type=DEBEZIUM_CHANGE, name="debezium")
    async def debezium(event: Event, ctx: Context) -> Event | None:
        table = event.extensions.get("iodebeziumtable")
        return transformed(event, ctx, table if isinstance(table, str) else None)

    return app


app = create_app()
