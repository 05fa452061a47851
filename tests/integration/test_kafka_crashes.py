"""A worker SIGKILLed at random points while 10,000 events flow, restarted each time.

What survives a SIGKILL: offsets are committed only for finished records, so everything is
handled (at least once); Redis idempotency makes a redelivered event whose handler had finished
a duplicate, so its side effect is not repeated. What no idempotency store can settle: a handler
killed after its side effect but before its record was completed. Its record stays in progress
until its lease (``in_progress_ttl``) runs out, and the event runs again as the next attempt.
The test checks exactly that: every event handled, and every repeated side effect belongs to
an event whose record was in progress at the moment of a kill.

The volume only spaces the kills out: each lands at a random point of its quarter of the run
(2,500 events, seconds of handling), with hundreds of events handled and not yet committed and
dozens mid-handler at that moment, which the last assertion requires.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from tests.integration.apps.kafka_effects import app
from tests.support.kafka import (
    WorkerProcess,
    committed_offsets,
    create_topic,
    eventually,
    fast_failover,
    lag,
    produce,
    unique,
    worker_env,
)

from tidal import Event
from tidal._bindings.kafka import to_record
from tidal._dispatching import Dispatcher
from tidal._idempotency import Record, Status

pytestmark = pytest.mark.integration

EVENTS = 10_000
KILLS = 3


def make_events(run: str) -> list[Event]:
    return [
        Event.create(
            type="com.example.effect.v1",
            source="/tests/crashes",
            id=f"{run}-{i}",
            data={"run": run},
            partitionkey=f"key-{i % 97}",
        )
        for i in range(EVENTS)
    ]


def as_records(events: list[Event]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for event in events:
        message = to_record(event)
        out.append((str(event.partitionkey).encode(), message.value, list(message.headers.items())))
    return out


class Crashes:
    """The test's view of one run: workers started, what each kill left behind."""

    def __init__(self, redis: Redis, run: str, events: list[Event]) -> None:
        self.redis, self.run, self.events = redis, run, events
        dispatcher, sub = Dispatcher(app), app.subscription("effect")
        self.keys = [dispatcher.key(sub, e) for e in events]
        self.in_progress_at_kills: set[str] = set()
        self.redelivered_after_completion = 0

    async def seen(self) -> int:
        return int(await self.redis.scard(f"{self.run}:seen"))

    async def counts(self) -> list[int]:
        keys = [f"{self.run}:count:{e.id}" for e in self.events]
        return [int(c or 0) for c in await self.redis.mget(keys)]

    async def gone(self, client_name: str) -> bool:
        """The killed worker's idempotency connections are closed: Redis has run all it sent."""
        clients = await self.redis.client_list()
        return not any(c.get("name") == client_name for c in clients)

    async def after_kill(self, bootstrap: str, group: str, topic: str) -> None:
        records = await self.redis.mget(self.keys)
        for event, raw in zip(self.events, records, strict=True):
            if raw is not None and Record.decode(raw).status is Status.IN_PROGRESS:
                self.in_progress_at_kills.add(event.id)
        committed = await committed_offsets(bootstrap, group, topic)
        # handled but not committed: redelivered to the next worker, and its handler not re-run
        self.redelivered_after_completion += await self.seen() - sum(
            c or 0 for c in committed.values()
        )


async def test_a_worker_killed_at_random_points_handles_every_event_and_repeats_no_finished_effect(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    topic, prefix, run = unique("crashes"), unique("crashes"), uuid.uuid4().hex
    group = f"{prefix}.effects"
    events = make_events(run)
    await create_topic(kafka_bootstrap, topic, partitions=4)
    await produce(kafka_bootstrap, topic, as_records(events))
    redis = Redis.from_url(redis_url)
    crashes = Crashes(redis, run, events)
    rng = random.Random()
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        name = f"crash-worker-{len(workers)}"
        env = worker_env(kafka_bootstrap, topic=topic, prefix=prefix, redis_url=redis_url)
        env |= fast_failover(kafka_bootstrap)  # the killed worker's session ends sooner
        env["TIDAL_IDEMPOTENCY__REDIS_URL"] = f"{redis_url}?client_name={name}"
        worker = WorkerProcess("tests.integration.apps.kafka_effects:app", env, tmp_path / name)
        workers.append(worker.start())
        return worker

    try:
        worker = start()
        for kill in range(KILLS):  # somewhere in each quarter of the way, after a start-up
            low, high = (kill + 0.1) / (KILLS + 1), (kill + 0.9) / (KILLS + 1)
            threshold = int(EVENTS * rng.uniform(low, high))
            await eventually(
                lambda threshold=threshold: _at_least(crashes.seen(), threshold),
                within=60,
                what=f"handling {threshold} events before kill {kill + 1}",
                explain=lambda worker=worker: _text(worker.output()),
            )
            worker.kill()
            name = f"crash-worker-{len(workers) - 1}"
            await eventually(lambda name=name: crashes.gone(name), within=10, what="disconnect")
            await crashes.after_kill(kafka_bootstrap, group, topic)
            worker = start()
        await eventually(
            lambda: _at_least(crashes.seen(), EVENTS),
            within=90,
            what=f"handling all {EVENTS} events after {KILLS} kills",
            explain=lambda: _text(workers[-1].output()),
        )
        await eventually(lambda: _zero(lag(kafka_bootstrap, group, topic)), within=30, what="lag 0")
        assert worker.terminate() == 0, worker.output()
        counts = await crashes.counts()
    finally:
        for w in workers:
            w.stop()
        await redis.aclose()
    assert min(counts) == 1, "every event handled"
    repeated = {events[i].id for i, c in enumerate(counts) if c > 1}
    unexplained = repeated - crashes.in_progress_at_kills
    assert not unexplained, (
        f"{len(unexplained)} finished side effects repeated: {sorted(unexplained)[:5]}"
    )
    assert crashes.redelivered_after_completion > len(repeated), (
        "the kills should have left handled, uncommitted events that idempotency deduplicated"
    )
    print(
        f"{KILLS} kills: {crashes.redelivered_after_completion} finished events redelivered and "
        f"deduplicated, {len(crashes.in_progress_at_kills)} caught mid-handler, "
        f"{len(repeated)} of those had already applied their side effect"
    )


async def _at_least(value: object, expected: int) -> bool:
    return await value >= expected  # type: ignore[operator,no-any-return]


async def _zero(value: object) -> bool:
    return await value == 0  # type: ignore[misc,no-any-return]


async def _text(value: object) -> str:
    return str(value)
