"""The CDC pipeline end to end on real parts: the writer's one-transaction rows in PostgreSQL ->
`tidal outbox relay` (killed twice after the broker's ack, so rows are re-sent) -> tansu ->
the cdc App in a Kafka consumer-group worker with Redis idempotency -> DataTransformed. Every
tenth record's first attempt also fails with a RetryableError (a flaky dependency), so it goes
round the retry topic before it is handled.

Exact counts: one DataTransformed per good row whatever the duplicates, one dead letter per bad
row (raw, the rest of its batch committed), and nothing left in the outbox.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from services.catalog import Catalog, load_catalog
from services.cdc.app import DATA_TRANSFORMED, create_app
from services.cdc.writer import Writer
from tests.services.test_end_to_end_kafka import read_all, redis, settled
from tests.support.kafka import create_topic, idempotence_supported, unique

from tidal import DeliveryPolicy, RetryableError, Settings
from tidal._idempotency import Idempotency
from tidal._outbox.kafka import KafkaSink
from tidal._outbox.postgres import OutboxTable
from tidal._outbox.records import OutboxRecord
from tidal._outbox.relay import Relay, RelayOptions
from tidal._settings import KafkaSettings
from tidal._stores.redis import RedisIdempotencyStore
from tidal._transports.kafka import KafkaWorker

pytestmark = pytest.mark.integration
READINGS = 200
UPDATED = 40  # readings written a second time
BATCH = 8
CRASH_ON = (2, 17)  # batches after whose ack the relay dies: 16 re-sent rows of 240 (6.7 %)


class Killed(Exception):
    pass


class FlakyCatalog:
    """The real catalogue whose check fails once for every tenth reading's first version."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog, self.failed = catalog, set[str]()

    def validate(self, event_type: str, data: Any) -> None:
        key = f"{data['id']}/{data['value']}"
        if int(data["id"].removeprefix("r-")) % 10 == 3 and key not in self.failed:
            self.failed.add(key)
            raise RetryableError(f"catalogue unavailable for {key}")
        self._catalog.validate(event_type, data)


class CrashingSink:
    """The real producer; the relay process 'dies' right after the named batches were acked."""

    def __init__(self, sink: KafkaSink) -> None:
        self._sink, self.batches = sink, 0

    async def send(self, records: Sequence[OutboxRecord]) -> None:
        await self._sink.send(records)
        self.batches += 1
        if self.batches in CRASH_ON:
            raise Killed


def value_of(n: int, version: int) -> Any:
    if n % 17 == 0:
        return "n/a"  # not a number: dead-lettered
    return n * 0.25 + version


def write(dsn: str) -> tuple[Counter[tuple[Any, ...]], set[str]]:
    """Write every row; the DataTransformed bodies expected and the bad rows' event ids."""
    writer = Writer.connect(dsn)
    want: Counter[tuple[Any, ...]] = Counter()
    bad: set[str] = set()
    try:
        for version, count in ((0, READINGS), (1, UPDATED)):
            for n in range(count):
                value = value_of(n, version)
                event_id = writer.write(f"r-{n}", value, source_table=None if n % 2 else "meters")
                if isinstance(value, str):
                    bad.add(event_id)
                    continue
                adjusted = Decimal(str(value)) * Decimal("1.1")
                table = "unknown" if n % 2 else "meters"
                want[(f"r-{n}", float(adjusted), table)] += 1
    finally:
        writer.close()
    return want, bad


async def relay_with_crashes(dsn: str, bootstrap: str, prefix: str) -> int:
    """Run the relay, restarting it each time it dies; returns the records it produced."""
    sink = KafkaSink(
        KafkaSettings(
            bootstrap_servers=bootstrap, idempotent_producer=idempotence_supported(bootstrap)
        )
    )
    crashing = CrashingSink(sink)
    await sink.start()
    try:
        while True:
            table = await OutboxTable.connect(dsn)
            try:
                relay = Relay(table, crashing, RelayOptions(batch=BATCH, topic_prefix=prefix))
                while await relay.step():
                    pass
                return crashing.batches
            except Killed:
                continue
            finally:
                await table.close()
    finally:
        await sink.stop()


async def test_every_row_is_transformed_once_and_every_bad_row_dead_lettered_once(
    database: str, kafka_bootstrap: str, redis_url: str
) -> None:
    prefix = unique("cdc") + "."
    source, out = prefix + "reading", unique("cdc-out")
    for topic in (source, out):
        await create_topic(kafka_bootstrap, topic, partitions=4)
    want, bad = write(database)
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topics=[source],
        emit_topic=out,
        dlq_topic=f"{out}.dlq",
        group_id_prefix=unique("cdc"),
        idempotent_producer=idempotence_supported(kafka_bootstrap),
        topic_partitions=4,
    )
    flaky = FlakyCatalog(load_catalog())
    policy = DeliveryPolicy.of(max_attempts=3, delay="PT0.2S", max_delay="PT1S")
    worker = KafkaWorker(
        create_app(catalog=flaky, policy=policy),  # type: ignore[arg-type]
        Settings(kafka=kafka),
        idempotency=Idempotency(RedisIdempotencyStore(redis(redis_url))),
    )
    await worker.start()
    try:
        batches = await relay_with_crashes(database, kafka_bootstrap, prefix)
        assert batches == 240 // BATCH + len(CRASH_ON)  # two batches went twice

        async def transformed() -> None:
            events = await read_all(kafka_bootstrap, out)
            assert len(events) >= sum(want.values())

        await settled(transformed, within=120)
        await asyncio.sleep(2.0)  # anything late would show up in the counts below
    finally:
        await worker.stop()
    emitted = await read_all(kafka_bootstrap, out)
    assert all(e.type == DATA_TRANSFORMED for e in emitted)
    got = Counter(
        (e.data["id"], float(e.data["adjusted_value"]), e.data["source_table"]) for e in emitted
    )
    assert got == want  # exact: no duplicate, no loss
    # r-3, r-13, ..., r-193 (20, less r-153: not a number) and the second versions of 3..33 (4)
    assert len(flaky.failed) == 23
    letters = await read_all(kafka_bootstrap, f"{out}.dlq")
    assert sorted(letter.id for letter in letters) == sorted(bad)
    for letter in letters:  # the raw record, with why it failed
        assert letter.data["value"] == "n/a"
        assert "value: 'n/a' is not a number" in letter.get_extension("tidalerrormessage")
        assert letter.get_extension("tidalsubscriber") == "cdc/outbox"
    relayed = await read_all(kafka_bootstrap, source)
    assert len(relayed) == 240 + 2 * BATCH  # the duplicates really were delivered
