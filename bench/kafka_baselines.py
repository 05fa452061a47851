"""The Kafka benchmark's baselines: what a skilled engineer writes without tidal.

`bench.kafka_path` runs each beside tidal's worker on the same topic, each with a fresh consumer
group, clocked from the moment its partitions are assigned (so the group join is left out but
every fetch is in: clients that prefetch the whole topic in the background, as librdkafka does,
are not clocked from their first record) to the last event handled, with the CPU time of this
process over the same span:

- `plain_loop`: aiokafka ``getmany``, the ``ce_`` headers into a dict, ``json.loads`` of the
  value, an async no-op handler awaited per event, ``commit()`` per batch (the leanest honest
  loop: the 1.00 of every ratio);
- `sdk_loop`: the same loop decoding through the CloudEvents SDK's ``from_kafka`` (what
  docs/benchmarks.md used to call "raw");
- `confluent_loop`: librdkafka through confluent-kafka, ``consume`` batches in a thread, same
  decoding, synchronous commit per batch;
- `faststream_loop`: a FastStream subscriber with its defaults (one message at a time), or
  ``batch=True`` with batches of 500 as the plain loop; its per-message log lines off
  (``logger=None``), as in production.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat

Measure = tuple[float, float]  # events/s, CPU µs per event


class Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """Starts a `Clocked` when the group assigns partitions."""

    def __init__(self, clock: Clocked) -> None:
        self.clock = clock

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if assigned:
            self.clock.start()


class Clocked:
    """Counts events from `start` (partitions assigned); `measure` gives events/s and CPU µs
    per event."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = 0
        self.started: float | None = None
        self.cpu = 0.0

    def start(self, *_: Any) -> None:
        if self.started is None:
            self.started, self.cpu = time.perf_counter(), time.process_time()

    def add(self, count: int) -> None:
        self.start()
        self.done += count

    def measure(self) -> Measure:
        assert self.started is not None
        elapsed = time.perf_counter() - self.started
        return self.n / elapsed, 1e6 * (time.process_time() - self.cpu) / self.n


async def handler(attributes: dict[str, str], data: Any) -> None:
    """The no-op handler every contender calls per event."""


def attributes_of(headers: Any) -> dict[str, str]:
    return {k[3:]: v.decode() for k, v in headers if k.startswith("ce_")}


def _group(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def plain_loop(bootstrap: str, topic: str, n: int, *, sdk: bool = False) -> Measure:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=_group("plain"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    clock, event_format = Clocked(n), JSONFormat()
    consumer.subscribe([topic], listener=Assigned(clock))
    await consumer.start()
    try:
        while clock.done < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batch.values():
                clock.add(len(records))
                for r in records:
                    if sdk:
                        message = KafkaMessage(headers=dict(r.headers), key=r.key, value=r.value)
                        event = from_kafka(message, event_format)
                        await handler(event.get_attributes(), event.get_data())
                    else:
                        await handler(attributes_of(r.headers), json.loads(r.value))
            if batch:
                await consumer.commit()
        return clock.measure()
    finally:
        await consumer.stop()


async def sdk_loop(bootstrap: str, topic: str, n: int) -> Measure:
    return await plain_loop(bootstrap, topic, n, sdk=True)


async def confluent_loop(bootstrap: str, topic: str, n: int) -> Measure:
    return await asyncio.to_thread(_confluent_consume, bootstrap, topic, n)


def _confluent_consume(bootstrap: str, topic: str, n: int) -> Measure:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": _group("confluent"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    # clocked from its first record: against tansu, librdkafka's committed-offset fetch after
    # the assignment stalls for ~20 s (a broker quirk, not the client's cost), so this
    # contender is flattered by its background prefetch
    clock = Clocked(n)
    consumer.subscribe([topic])
    try:
        while clock.done < n:
            messages = consumer.consume(num_messages=500, timeout=0.2)
            clock.add(len(messages))
            for m in messages:
                if m.error() is not None:
                    raise RuntimeError(m.error())
                attributes_of(m.headers() or ())
                json.loads(m.value() or b"null")
            if messages:
                consumer.commit(asynchronous=False)
        return clock.measure()
    finally:
        consumer.close()


async def faststream_loop(bootstrap: str, topic: str, n: int, *, batch: bool = False) -> Measure:
    from faststream.kafka import KafkaBroker

    broker, clock, finished = KafkaBroker(bootstrap, logger=None), Clocked(n), asyncio.Event()
    subscriber = broker.subscriber(
        topic,
        group_id=_group("faststream"),
        auto_offset_reset="earliest",
        batch=batch,
        max_records=500 if batch else None,  # the plain loop's getmany size
        listener=Assigned(clock),
    )

    async def one(data: dict[str, Any]) -> None:
        clock.add(1)
        if clock.done >= n:
            finished.set()

    async def many(data: list[dict[str, Any]]) -> None:
        clock.add(len(data))
        if clock.done >= n:
            finished.set()

    subscriber(many if batch else one)
    await broker.start()
    try:
        await asyncio.wait_for(finished.wait(), 600)
        return clock.measure()
    finally:
        await broker.stop()


async def faststream_batch_loop(bootstrap: str, topic: str, n: int) -> Measure:
    return await faststream_loop(bootstrap, topic, n, batch=True)
