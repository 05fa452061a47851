"""`tidal dev` demo traffic for cdc: ``reading.changed`` events as the outbox relay delivers them.

`tidal dev` (tidal.cli._discovering) publishes `events(rng)` straight onto the broker, memory or
``--kafka``: the relay itself needs PostgreSQL, so the demo skips it and sends what it would
(Debezium's source and extensions). One event in five is instead a raw Debezium row change of
the ``meters`` table (its CloudEvents converter's shape, for the ``debezium`` subscription).
About one record in twenty is not a number, to show a per-record dead letter beside the
transformed rest.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

from services.cdc.app import DEBEZIUM_CHANGE, READING_CHANGED
from tidal import Event

SOURCE = "/debezium/postgresql/tidal-outbox"


def events(rng: random.Random) -> Iterator[Event]:
    """Endless changes to 50 readings, ids stable per (reading, version) like the writer's."""
    versions: dict[str, int] = {}
    while True:
        reading = f"sensor-{rng.randrange(50)}"
        versions[reading] = versions.get(reading, 0) + 1
        value: object = round(rng.uniform(0, 100), 2) if rng.random() > 0.05 else "n/a"
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.2:
            yield _row_change(event_id, reading, value)
            continue
        data = {"id": reading, "value": value, "source_table": "readings"}
        yield Event.create(
            type=READING_CHANGED,
            source=SOURCE,
            id=event_id,
            data=data,
            partitionkey=reading,
            iodebeziumop="c",
            iodebeziumtable="outboxevent",
        )


def _row_change(event_id: str, reading: str, value: object) -> Event:
    """An UPDATE of ``meters`` as Debezium's PostgreSQL connector + CloudEvents converter say it."""
    return Event.create(
        type=DEBEZIUM_CHANGE,
        source=SOURCE,
        id=event_id,
        data={"before": None, "after": {"id": reading, "value": value}},
        partitionkey=reading,
        iodebeziumop="u",
        iodebeziumtable="meters",
    )
