"""`tidal outbox relay` on a real PostgreSQL and a Kafka-protocol broker.

Rows written by the one-transaction writer reach their topic keyed by aggregate, in write
order per aggregate; a relay that dies after the broker acknowledged a batch but before it
deleted the rows re-sends them with the same ids on restart (duplicates, never losses, never a
reordering of the rows sent after); one relay holds the table at a time; the running command
serves its counts at /metrics.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from services.cdc.writer import Writer
from tests.support.kafka import create_topic, idempotence_supported, unique
from tests.support.servers import free_port, wait_for_port

from tidal._outbox.kafka import KafkaSink
from tidal._outbox.postgres import OutboxTable
from tidal._outbox.records import OutboxRecord
from tidal._outbox.relay import Relay, RelayOptions
from tidal._settings import KafkaSettings
from tidal.cli.main import cli

pytestmark = pytest.mark.integration


async def read_topic(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, str, int]]:
    """(key, event id, value) of the first ``count`` records, in partition order per key."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen: list[tuple[bytes, str, int]] = []
    try:
        for _ in range(120):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value)
                    seen.append((r.key, event["id"], event["data"]["value"]))
            if len(seen) >= count:
                break
    finally:
        await consumer.stop()
    return seen


def write_interleaved(dsn: str, readings: int, versions: int) -> dict[str, list[int]]:
    """Each reading written ``versions`` times, readings interleaved; the values per reading."""
    writer = Writer.connect(dsn)
    written: dict[str, list[int]] = defaultdict(list)
    try:
        for version in range(versions):
            for n in range(readings):
                value = version * 1000 + n
                writer.write(f"r-{n}", value)
                written[f"r-{n}"].append(value)
    finally:
        writer.close()
    return written


def per_key(seen: Sequence[tuple[bytes, str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for key, _, value in seen:
        out[key.decode()].append(value)
    return out


def remaining(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM outboxevent").fetchone()
    assert row is not None
    return int(row[0])


async def test_rows_reach_the_topic_in_write_order_per_aggregate(
    database: str, kafka_bootstrap: str
) -> None:
    prefix = unique("outbox") + "."
    await create_topic(kafka_bootstrap, prefix + "reading", partitions=4)
    written = write_interleaved(database, readings=12, versions=5)
    table = await OutboxTable.connect(database)
    sink = KafkaSink(
        KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            idempotent_producer=idempotence_supported(kafka_bootstrap),
        )
    )
    await sink.start()
    try:
        relay = Relay(table, sink, RelayOptions(batch=7, topic_prefix=prefix))
        while await relay.step():
            pass
    finally:
        await sink.stop()
        await table.close()
    seen = await read_topic(kafka_bootstrap, prefix + "reading", 60)
    assert len(seen) == 60
    assert len({event_id for _, event_id, _ in seen}) == 60
    assert per_key(seen) == written
    assert remaining(database) == 0


class CrashAfterAck:
    """The real sink, then a crash before the relay deletes: the second batch dies so."""

    def __init__(self, sink: KafkaSink, crash_on: int) -> None:
        self._sink, self._crash_on, self.batches = sink, crash_on, 0

    async def send(self, records: Sequence[OutboxRecord]) -> None:
        await self._sink.send(records)
        self.batches += 1
        if self.batches == self._crash_on:
            raise ConnectionResetError("relay killed after the broker acknowledged")


async def test_a_relay_killed_after_the_ack_resends_with_the_same_ids_on_restart(
    database: str, kafka_bootstrap: str
) -> None:
    prefix = unique("outbox") + "."
    await create_topic(kafka_bootstrap, prefix + "reading", partitions=4)
    written = write_interleaved(database, readings=10, versions=4)  # 40 rows
    sink = KafkaSink(
        KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            idempotent_producer=idempotence_supported(kafka_bootstrap),
        )
    )
    await sink.start()
    try:
        table = await OutboxTable.connect(database)
        options = RelayOptions(batch=4, topic_prefix=prefix)
        crashing = Relay(table, CrashAfterAck(sink, crash_on=2), options)
        assert await crashing.step() == 4
        with pytest.raises(ConnectionResetError):
            await crashing.step()
        await table.close()  # the process is gone
        assert remaining(database) == 36  # the unacknowledged-as-deleted rows are still there
        table = await OutboxTable.connect(database)
        restarted = Relay(table, sink, options)
        while await restarted.step():
            pass
        await table.close()
    finally:
        await sink.stop()
    seen = await read_topic(kafka_bootstrap, prefix + "reading", 44)
    assert len(seen) == 44  # 40 rows, 4 of them twice
    ids = [event_id for _, event_id, _ in seen]
    assert len(set(ids)) == 40
    # after dropping repeats by id (what the consumer's idempotency does), order per key holds
    first: dict[str, list[int]] = defaultdict(list)
    kept: set[str] = set()
    for key, event_id, value in seen:
        if event_id not in kept:
            kept.add(event_id)
            first[key.decode()].append(value)
    assert first == written
    assert remaining(database) == 0


async def test_one_relay_holds_the_table_at_a_time(database: str) -> None:
    Writer.connect(database).close()
    one, two = await OutboxTable.connect(database), await OutboxTable.connect(database)
    try:
        assert await one.try_lock()
        assert not await two.try_lock()
        await one.close()
        # the server frees a session's advisory locks when it has processed the disconnect,
        # a moment after close() returns: the relay polls for the lock, so does the test
        assert await eventually_locks(two)
    finally:
        await two.close()


async def eventually_locks(table: OutboxTable, seconds: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await table.try_lock():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_the_command_relays_until_empty(database: str, kafka_bootstrap: str) -> None:
    write_interleaved(database, readings=3, versions=2)
    env = {"TIDAL_KAFKA__IDEMPOTENT_PRODUCER": str(idempotence_supported(kafka_bootstrap))}
    args = ["outbox", "relay", "--dsn", database, "--bootstrap-servers", kafka_bootstrap,
            "--topic-prefix", unique("cli") + ".", "--until-empty"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "relayed 6 outbox rows" in result.output
    assert remaining(database) == 0


def test_the_command_connects_with_the_workers_kafka_security_settings(
    database: str, kafka_bootstrap: str
) -> None:
    """``TIDAL_KAFKA__SECURITY_PROTOCOL`` / ``SASL_*`` reach the relay's producer (it used to
    connect in plaintext with the bootstrap address alone): tansu refuses the SASL handshake,
    so the relay stops before it takes a row."""
    write_interleaved(database, readings=1, versions=2)
    env = {
        "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": "false",
        "TIDAL_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "TIDAL_KAFKA__SASL_MECHANISM": "PLAIN",
        "TIDAL_KAFKA__SASL_USERNAME": "relay",
        "TIDAL_KAFKA__SASL_PASSWORD": "relay-pw",
    }
    args = ["outbox", "relay", "--dsn", database, "--bootstrap-servers", kafka_bootstrap,
            "--topic-prefix", unique("sasl") + ".", "--until-empty"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: cannot reach Kafka at {kafka_bootstrap}")
    assert remaining(database) >= 2


def test_an_unreachable_database_is_one_error_line(kafka_bootstrap: str) -> None:
    args = ["outbox", "relay", "--dsn", "postgresql://nobody@127.0.0.1:1/none",
            "--bootstrap-servers", kafka_bootstrap, "--until-empty"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to PostgreSQL")


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("tidal_outbox_")
    }


def test_the_running_relay_serves_what_it_relayed_at_metrics(
    database: str, kafka_bootstrap: str
) -> None:
    write_interleaved(database, readings=4, versions=2)
    port = free_port()
    env = {
        **os.environ,
        "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": str(idempotence_supported(kafka_bootstrap)),
    }
    args = ["outbox", "relay", "--dsn", database, "--bootstrap-servers", kafka_bootstrap,
            "--topic-prefix", unique("metrics") + ".", "--metrics-port", str(port)]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "tidal.cli", *args], env=env)
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 30
        while scrape(port).get("tidal_outbox_relayed_events_total") != 8:
            assert time.monotonic() < deadline, scrape(port)
            time.sleep(0.2)
        assert remaining(database) == 0
        assert scrape(port)["tidal_outbox_lag_seconds"] == 0
        Writer.connect(database).close()  # more rows are relayed as they come
        write_interleaved(database, readings=1, versions=3)
        while scrape(port).get("tidal_outbox_relayed_events_total") != 11:
            assert time.monotonic() < deadline, scrape(port)
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_relay_that_loses_its_database_exits_with_one_error_line(
    database: str, kafka_bootstrap: str
) -> None:
    write_interleaved(database, readings=2, versions=1)
    env = {
        **os.environ,
        "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": str(idempotence_supported(kafka_bootstrap)),
    }
    args = ["outbox", "relay", "--dsn", database, "--bootstrap-servers", kafka_bootstrap,
            "--topic-prefix", unique("lost") + ".", "--metrics-port", "0"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidal.cli", *args], env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while remaining(database) and time.monotonic() < deadline:
        time.sleep(0.2)
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(database) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "Error: relay stopped after 2 rows:" in stderr
    assert "Traceback" not in stderr
