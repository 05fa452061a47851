"""Subscriptions that scale: one topic read by 1, 10 and 50 subscriptions of one App.

For each count, a `KafkaWorker` (defaults: memory idempotency) starts on a pre-produced topic of
binary-mode CloudEvents that every subscription matches (a no-op handler each), and the bench
measures the time from the worker's start to the first event handled (the App's group must join:
what a KEDA scale-from-zero waits), then the CPU this process spent per source event until every
subscription handled every event (the 1-subscription baseline on a topic ten times longer, so
its CPU is measured over a span as long as the others'), and how much of that CPU the garbage
collector took. The counts run in turn, ``--rounds`` times in a rotating order (the machine is
shared: medians of interleaved rounds). Ratios: the largest count / 1 (targets: time to the
first event <= 2x, CPU per event <= 25x); every count's medians and ratios are printed. Run:
``python -m bench.kafka_subscriptions`` (``--rounds``, ``--counts``, ``--events``);
``PYTHONPATH=<other tree>/src:.`` measures another tree's tidal the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import time
import uuid
from collections.abc import Callable

import uvloop
from harness.kafka import EXTERNAL_BOOTSTRAP, produce

from bench.kafka_path import broker, new_topic, records
from bench.summary import Ratio
from tidal import App, Event, Settings
from tidal._transports.kafka import KafkaWorker

BASELINE_SCALE = 10


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


class Collector:
    """CPU the garbage collector takes while installed (`gc.callbacks`), in seconds."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


async def measure(
    bootstrap: str, topic: str, subscriptions: int, events: int
) -> tuple[float, float, float]:
    """(seconds from start to the first event handled, CPU µs per source event, of which the
    garbage collector's)."""
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
        collector = Collector()
        gc.callbacks.append(collector)
        cpu = time.process_time()
        try:
            await until(
                lambda: sum(count(name, "handled") for name in names) >= events * subscriptions
            )
            cpu = time.process_time() - cpu
        finally:
            gc.callbacks.remove(collector)
        return first, 1e6 * cpu / events, 1e6 * collector.seconds / events
    finally:
        await worker.stop()


async def bench(bootstrap: str, args: argparse.Namespace) -> list[Ratio]:
    counts = sorted({1, *args.counts})
    # the baseline reads a topic `BASELINE_SCALE` times longer: its 2,000 events alone take
    # ~0.1 s of CPU, a span too short to measure steadily on a shared machine
    sizes = {n: args.events * (BASELINE_SCALE if n == 1 else 1) for n in counts}
    topics = {}
    for size in sorted(set(sizes.values())):
        topics[size] = await new_topic(bootstrap, "subs", args.partitions)
        await produce(bootstrap, topics[size], records(size, 1000))
    runs: dict[int, list[tuple[float, float, float]]] = {n: [] for n in counts}
    for r in range(args.rounds):
        for n in counts[r % len(counts) :] + counts[: r % len(counts)]:
            first, cpu, collected = await measure(bootstrap, topics[sizes[n]], n, sizes[n])
            runs[n].append((first, cpu, collected))
            print(
                f"  round {r + 1}, {n} subscription(s): first event after {first:.2f} s, "
                f"{cpu:.0f} µs CPU per event ({collected:.0f} of it the collector's)",
                flush=True,
            )
    median = {
        n: [statistics.median(column) for column in zip(*rs, strict=True)] for n, rs in runs.items()
    }
    one_first, one_cpu, _ = median[1]
    for n in counts:
        first, cpu, collected = median[n]
        print(
            f"  {n} subscription(s), medians: first event after {first:.2f} s "
            f"({first / one_first:.2f}x), {cpu:.0f} µs CPU per event ({cpu / one_cpu:.1f}x; "
            f"collector {collected:.0f} µs)",
            flush=True,
        )
    n = counts[-1]
    many_first, many_cpu, _ = median[n]
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
    parser.add_argument(
        "--counts",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 10, 50],
        help="subscription counts, comma-separated (1 is always measured: the baseline)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with broker() as bootstrap:
        return uvloop.run(bench(bootstrap, args))


if __name__ == "__main__":
    from bench.summary import table

    print(table(main()))
