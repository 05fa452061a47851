"""Subscriptions that scale: one topic read by 1 and by 50 subscriptions of one App.

For each count, a `KafkaWorker` (defaults: memory idempotency) starts on a pre-produced topic of
binary-mode CloudEvents that every subscription matches (a no-op handler each), and the bench
measures the time from the worker's start to the first event handled (every group must join:
what a KEDA scale-from-zero waits), then the CPU this process spent per source event until every
subscription handled every event. Ratios: 50 subscriptions / 1 (targets: time to the first
event <= 2x, CPU per event <= 25x). Run: ``python -m bench.kafka_subscriptions``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import uvloop
from harness.kafka import EXTERNAL_BOOTSTRAP, produce

from bench.kafka_path import broker, new_topic, records
from bench.summary import Ratio
from tidal import App, Event, Settings
from tidal.transports.kafka import KafkaWorker


def app_of(subscriptions: int) -> App:
    app = App("bench-subs")
    for i in range(subscriptions):

        async def noop(event: Event) -> None:
            return None

        app.on(type="com.example.bench.v1", name=f"noop{i:02d}")(noop)
    return app


async def until(condition: Callable[[], bool], *, limit: float = 600) -> None:
    """Poll ``condition`` every millisecond (counters: nothing to wait on); fail past ``limit``."""
    deadline = time.perf_counter() + limit
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError("the worker did not handle every event in time")
        await asyncio.sleep(0.001)


async def measure(
    bootstrap: str, topic: str, subscriptions: int, events: int
) -> tuple[float, float]:
    """(seconds from start to the first event handled, CPU µs per source event)."""
    app = app_of(subscriptions)
    settings = Settings(
        kafka={
            "bootstrap_servers": bootstrap,
            "topics": [topic],
            "group_id_prefix": f"subs-{uuid.uuid4().hex[:8]}",
            "idempotent_producer": bootstrap == EXTERNAL_BOOTSTRAP,
        },
    )
    names = [sub.name for sub in app.subscriptions]
    started = time.perf_counter()
    worker = KafkaWorker(app, settings)
    await worker.start()
    try:
        count = worker.metrics.count
        await until(lambda: any(count(name, "handled") for name in names))
        first = time.perf_counter() - started
        cpu = time.process_time()
        await until(lambda: sum(count(name, "handled") for name in names) >= events * subscriptions)
        return first, 1e6 * (time.process_time() - cpu) / events
    finally:
        await worker.stop()


async def bench(bootstrap: str, args: argparse.Namespace) -> list[Ratio]:
    topic = await new_topic(bootstrap, "subs", args.partitions)
    await produce(bootstrap, topic, records(args.events, 1000))
    results = {}
    for n in (1, args.subscriptions):
        results[n] = await measure(bootstrap, topic, n, args.events)
        print(
            f"  {n} subscription(s): first event after {results[n][0]:.2f} s, "
            f"{results[n][1]:.0f} µs CPU per event",
            flush=True,
        )
    (one_first, one_cpu), (many_first, many_cpu) = results[1], results[args.subscriptions]
    n = args.subscriptions
    return [
        Ratio(
            "kafka subs",
            f"time to first event, {n} subscriptions / 1",
            many_first / one_first,
            "<=",
            2.0,
        ),
        Ratio(
            "kafka subs", f"CPU per event, {n} subscriptions / 1", many_cpu / one_cpu, "<=", 25.0
        ),
    ]


def main(argv: list[str] | None = None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with broker() as bootstrap:
        return uvloop.run(bench(bootstrap, args))


if __name__ == "__main__":
    from bench.summary import table

    print(table(main()))
