"""Two workers in one consumer group: partitions move between them and nothing is lost."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from tests.support.kafka import (
    WorkerProcess,
    create_topic,
    eventually,
    lag,
    produce,
    unique,
    worker_env,
)

from tidal import Event
from tidal._bindings.kafka import to_record

pytestmark = pytest.mark.integration

CHUNK = 200


def effect_records(
    run: str, start: int, stop: int
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    records = []
    for i in range(start, stop):
        event = Event.create(
            type="com.example.effect.v1",
            source="/tests/rebalance",
            id=f"{run}-{i}",
            data={"run": run, "sleep": 0.002},
            partitionkey=f"key-{i % 50}",
        )
        message = to_record(event)
        records.append((f"key-{i % 50}".encode(), message.value, list(message.headers.items())))
    return records


async def test_two_workers_share_a_group_and_take_over_from_each_other_losing_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    topic, prefix, run = unique("rebalance"), unique("rebalance"), uuid.uuid4().hex
    await create_topic(kafka_bootstrap, topic, partitions=4)
    env = worker_env(kafka_bootstrap, topic=topic, prefix=prefix, redis_url=redis_url)
    reference = "tests.integration.apps.kafka_effects:app"
    first = WorkerProcess(reference, env, tmp_path / "first.log")
    second = WorkerProcess(reference, env, tmp_path / "second.log")
    redis = Redis.from_url(redis_url)

    async def handled_by(worker: WorkerProcess) -> int:
        return int(await redis.hget(f"{run}:by", str(worker.pid)) or 0)

    async def seen() -> int:
        return int(await redis.scard(f"{run}:seen"))

    produced, stop = 0, asyncio.Event()

    async def feed() -> None:  # events keep flowing through both rebalances
        nonlocal produced
        while not stop.is_set():
            await produce(kafka_bootstrap, topic, effect_records(run, produced, produced + CHUNK))
            produced += CHUNK
            await asyncio.sleep(0.1)

    try:
        first.start()
        feeding = asyncio.create_task(feed())
        await eventually(lambda: _positive(handled_by(first)), within=30, what="first worker")
        second.start()
        await eventually(
            lambda: _positive(handled_by(second)),
            within=40,
            what="the second worker taking partitions over",
            explain=lambda: _text(second.output()),
        )
        before = await handled_by(first)
        assert first.terminate() == 0, first.output()  # leaves the group: a second rebalance
        after = await handled_by(second)
        await eventually(
            lambda: _positive(_minus(handled_by(second), after)),
            within=40,
            what="the second worker going on alone",
        )
        stop.set()
        await feeding
        await eventually(
            lambda: _equal(seen(), produced),
            within=60,
            what="handling every event produced",
            explain=lambda: _text(second.output()),
        )
        group = f"{prefix}.effects"
        await eventually(
            lambda: _equal(lag(kafka_bootstrap, group, topic), 0), within=20, what="lag 0"
        )
        keys = [f"{run}:count:{run}-{i}" for i in range(produced)]
        counts = [int(c) for c in await redis.mget(keys)]
        assert before > 0
        assert await handled_by(second) > 0
        assert min(counts) == 1, "every event handled"
        assert max(counts) == 1, "idempotency and commit-on-revoke: no event handled twice"
        assert second.terminate() == 0, second.output()
    finally:
        first.stop()
        second.stop()
        await redis.aclose()


async def _positive(value: object) -> bool:
    return await value > 0  # type: ignore[operator,no-any-return]


async def _minus(value: object, base: int) -> int:
    return await value - base  # type: ignore[operator,no-any-return]


async def _equal(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc,no-any-return]


async def _text(value: object) -> str:
    return str(value)
