"""``tidal tail TOPIC``: print each CloudEvent on a Kafka topic (or its ``.dlq``) as it arrives.

One line per event (`tidal.cli._devwatch.event_line`: time, type, source, id, subject and
partition key, partition and offset; for a dead letter its ``tidalerrorclass`` /
``tidalerrormessage``; for a record on a retry topic the failed attempt and when the next is
due), or with ``--json`` the event in structured mode, one JSON object a line. From the end by
default, ``--from-beginning`` from the start. Reads without a consumer group: the partitions
are assigned, nothing is committed, no group's lag moves. A record that is no CloudEvent is
reported as such (on stderr with ``--json``) and skipped. `follow` is also what
`tidal dev --kafka` uses to show retries and dead letters live.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import click
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tidal._bindings.formats import dumps, encode_time, event_to_mapping
from tidal._bindings.kafka import KafkaMessage, from_record, headers_from_list
from tidal._errors import InvalidEventError
from tidal._events import Event
from tidal._settings import KafkaSettings, Settings
from tidal._transports.kafka.retries import ATTEMPTS, LAST_ERROR, NOT_BEFORE
from tidal.cli._devwatch import event_line
from tidal.kafka import consumer as kafka_consumer

OnRecord = Callable[[Any], None]  # an aiokafka ConsumerRecord
TOPIC_WAIT: Final = 1.0  # s between looks for a topic that does not exist yet


async def follow(
    kafka: KafkaSettings,
    topic: str,
    on_record: OnRecord,
    *,
    from_beginning: bool = False,
    ready: Callable[[list[int]], None] | None = None,
) -> None:
    """Call ``on_record`` for each record of ``topic`` until cancelled; ``ready`` once the
    positions are set (with the partitions). Waits for a topic that does not exist yet, then
    reads it from its beginning."""
    consumer, partitions, waited = await _connect(kafka, topic)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        if from_beginning or waited:  # a topic created since: everything in it is new
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolved now: what arrives from here on is shown
        if ready is not None:
            ready(partitions)
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    on_record(record)
    finally:
        await consumer.stop()


async def _connect(kafka: KafkaSettings, topic: str) -> tuple[AIOKafkaConsumer, list[int], bool]:
    """A started consumer (no group) that knows ``topic``'s partitions, once it exists. A
    client learns the partitions at start, so one that started too early is replaced, after a
    second (aiokafka's stop right after a start without assignment raises CancelledError).
    The flag: whether the topic had to be waited for (all of it is newer than the wait)."""
    waited = False
    while True:
        consumer = _consumer(kafka)
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        found = consumer.partitions_for_topic(topic)
        if found:
            return consumer, sorted(found), waited
        waited = True
        try:
            while True:
                await asyncio.sleep(TOPIC_WAIT)
                if topic in await consumer.topics():
                    break
        finally:
            await consumer.stop()


def _consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    return kafka_consumer(kafka, group_id=None)


def retry_note(record: Any) -> str | None:
    """For a record on a retry topic (the Kafka worker's retry headers): which attempt failed,
    why, and when the next is due; None for any other record."""
    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or () if v is not None}
    attempts = headers.get(ATTEMPTS)
    if attempts is None:
        return None
    due = headers.get(NOT_BEFORE, "")
    when = encode_time(datetime.fromtimestamp(int(due) / 1000, UTC)) if due.isdigit() else "?"
    error = headers.get(LAST_ERROR, "?")
    return f"attempt {attempts} failed ({error}), next attempt due {when}"


def decode(record: Any) -> Event:
    """The CloudEvent in an aiokafka record; `InvalidEventError` when it is none."""
    message = KafkaMessage(
        headers=headers_from_list(record.headers or ()), key=record.key, value=record.value
    )
    return from_record(message)


@click.command()
@click.argument("topic")
@click.option(
    "--bootstrap-servers",
    default=None,
    help="Kafka to read from (default: TIDAL_KAFKA__BOOTSTRAP_SERVERS, whose security "
    "settings apply too).",
)
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record, not the end.")
@click.option("--json", "as_json", is_flag=True, help="Print whole events, one JSON a line.")
@click.option(
    "--max-events", type=int, default=None, help="Exit after N events (default: until Ctrl-C)."
)
def tail(
    topic: str,
    bootstrap_servers: str | None,
    from_beginning: bool,
    as_json: bool,
    max_events: int | None,
) -> None:
    """Print each CloudEvent on TOPIC (e.g. orders, orders.dlq) as it arrives; Ctrl-C stops."""
    try:
        kafka = Settings().kafka
    except ValueError as exc:
        raise click.ClickException(f"Kafka settings: {exc}") from exc
    if bootstrap_servers is not None:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
    try:
        shown = asyncio.run(_tail(kafka, topic, from_beginning, as_json, max_events))
    except (KafkaError, OSError) as exc:
        raise click.ClickException(f"Kafka at {kafka.bootstrap_servers}: {exc!r}") from exc
    click.echo(f"{shown} event(s) shown", err=True)


async def _tail(
    kafka: KafkaSettings, topic: str, from_beginning: bool, as_json: bool, limit: int | None
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    shown = 0

    def show(record: Any) -> None:
        nonlocal shown
        if limit is not None and shown >= limit:
            return
        where = f"[{record.partition}@{record.offset}]"
        try:
            event = decode(record)
        except InvalidEventError as exc:
            click.echo(f"{where} not a CloudEvent ({exc})", err=as_json)
            return
        shown += 1
        if as_json:
            click.echo(dumps(event_to_mapping(event)).decode())
        elif (note := retry_note(record)) is not None:
            click.echo(f"{event_line(event)} {where} retry: {note}")
        else:
            click.echo(f"{event_line(event)} {where}")
        if limit is not None and shown >= limit:
            stop.set()

    def ready(partitions: list[int]) -> None:
        start = "the beginning" if from_beginning else "the end"
        click.echo(
            f"tailing {topic} ({len(partitions)} partition(s)) from {start}; Ctrl-C stops",
            err=True,
        )

    click.echo(f"waiting for {topic} at {kafka.bootstrap_servers}...", err=True)
    following = asyncio.create_task(
        follow(kafka, topic, show, from_beginning=from_beginning, ready=ready)
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (following, stopping):
        task.cancel()
    results = await asyncio.gather(following, stopping, return_exceptions=True)
    failure = results[0]
    if isinstance(failure, Exception):
        raise failure
    return shown
