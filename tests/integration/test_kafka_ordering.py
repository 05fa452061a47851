"""The Kafka worker's scheduling against a real broker: per-key order, concurrency, ``ordered``."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest
from tests.support.kafka import create_topic, eventually, lag, unique, worker_settings

from tidal import App, Event
from tidal._transports.kafka import KafkaPublisher, KafkaWorker

pytestmark = pytest.mark.integration

KEYS = 40
PER_KEY = 25


class Recorder:
    """What the handler saw: per-key sequence numbers in handling order, and concurrency."""

    def __init__(self) -> None:
        self.by_key: defaultdict[str, list[int]] = defaultdict(list)
        self.order: list[tuple[str, int]] = []
        self.running = 0
        self.most = 0

    async def handle(self, event: Event, delay: float) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(delay)
        finally:
            self.running -= 1
        self.by_key[event.partitionkey or ""].append(event.data["seq"])
        self.order.append((event.partitionkey or "", event.data["seq"]))


def sequenced(keys: int, per_key: int, *, rng: random.Random) -> list[Event]:
    """``per_key`` events for each of ``keys`` keys, interleaved at random, seq per key."""
    slots = [k for k in range(keys) for _ in range(per_key)]
    rng.shuffle(slots)
    seq: defaultdict[int, int] = defaultdict(int)
    events = []
    for k in slots:
        events.append(
            Event.create(
                type="com.example.seq.v1",
                source="/tests/ordering",
                data={"seq": seq[k]},
                partitionkey=f"key-{k}",
            )
        )
        seq[k] += 1
    return events


async def publish(bootstrap: str, topic: str, events: list[Event]) -> None:
    settings = worker_settings(bootstrap, topic=topic)
    async with KafkaPublisher.connect(settings.kafka) as publisher:
        await publisher.publish_many(events, topic=topic)


async def test_events_of_one_key_are_handled_in_order_while_keys_run_concurrently(
    kafka_bootstrap: str,
) -> None:
    topic = unique("ordering")
    await create_topic(kafka_bootstrap, topic, partitions=2)
    rng = random.Random(7)
    await publish(kafka_bootstrap, topic, sequenced(KEYS, PER_KEY, rng=rng))
    recorder = Recorder()
    app = App("ordering")

    @app.on(type="com.example.seq.v1")
    async def record(event: Event) -> None:
        await recorder.handle(event, rng.uniform(0, 0.004))

    settings = worker_settings(kafka_bootstrap, topic=topic, max_in_flight=16)
    async with KafkaWorker(app, settings) as worker:
        await eventually(
            lambda: _true(len(recorder.order) == KEYS * PER_KEY),
            within=60,
            what=f"handling {KEYS * PER_KEY} events",
            explain=lambda: _text(worker.metrics.snapshot()),
        )
        group = worker.metrics.subscriptions["record"].group
        await eventually(
            lambda: _zero(lag(kafka_bootstrap, group, topic)), within=15, what="committing all"
        )
    assert all(seqs == list(range(PER_KEY)) for seqs in recorder.by_key.values()), {
        k: v for k, v in recorder.by_key.items() if v != list(range(PER_KEY))
    }
    assert len(recorder.by_key) == KEYS
    assert recorder.most > 2, "keys should have run concurrently"
    assert recorder.most <= 2 * 16, "at most max_in_flight per partition"


async def test_a_slow_key_does_not_hold_up_the_other_keys(kafka_bootstrap: str) -> None:
    topic = unique("slow-key")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    slow = [
        Event.create(
            type="com.example.seq.v1",
            source="/t",
            data={"seq": i, "slow": True},
            partitionkey="slow",
        )
        for i in range(2)
    ]
    fast = sequenced(10, 10, rng=random.Random(3))
    await publish(kafka_bootstrap, topic, [*slow, *fast])
    release = asyncio.Event()
    handled: list[tuple[str, int]] = []
    app = App("slow-key")

    @app.on(type="com.example.seq.v1")
    async def work(event: Event) -> None:
        if event.data.get("slow"):
            await release.wait()
        handled.append((event.partitionkey or "", event.data["seq"]))

    async with KafkaWorker(app, worker_settings(kafka_bootstrap, topic=topic)) as worker:
        await eventually(
            lambda: _true(len(handled) == len(fast)),
            within=30,
            what="handling every other key while the slow key is blocked",
            explain=lambda: _text(worker.metrics.snapshot()),
        )
        assert ("slow", 0) not in handled
        release.set()
        await eventually(lambda: _true(len(handled) == len(fast) + 2), within=15, what="slow")
    assert handled[-2:] == [("slow", 0), ("slow", 1)]


async def test_ordered_mode_handles_a_partition_strictly_in_sequence(kafka_bootstrap: str) -> None:
    topic = unique("ordered")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    events = sequenced(8, 10, rng=random.Random(5))
    await publish(kafka_bootstrap, topic, events)
    recorder = Recorder()
    app = App("ordered")

    @app.on(type="com.example.seq.v1")
    async def record(event: Event) -> None:
        await recorder.handle(event, 0.001)

    settings = worker_settings(kafka_bootstrap, topic=topic, ordered=True)
    async with KafkaWorker(app, settings):
        await eventually(lambda: _true(len(recorder.order) == len(events)), within=60, what="all")
    expected = [(e.partitionkey, e.data["seq"]) for e in events]
    assert recorder.order == expected
    assert recorder.most == 1


async def _true(value: bool) -> bool:
    return value


async def _zero(value: object) -> bool:
    return await value == 0  # type: ignore[misc]


async def _text(value: object) -> str:
    return str(value)
