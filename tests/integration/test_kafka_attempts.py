"""Attempts exactly as configured while workers are SIGKILLed mid-handler, one dead letter each.

Every attempt is recorded in the idempotency store (Redis) before its handler runs, so a worker
killed during an attempt does not make the next worker repeat it under the same number: the
next worker takes the record over (its lease, ``in_progress_ttl``, has run out) as the next
attempt, and past ``max_attempts`` dead-letters the event without running it. A dead letter is
recorded as well once it is sent, so a worker killed before committing it does not send it
again when the record is redelivered.

The handler (`tests.integration.apps.kafka_attempts`) logs each attempt in Redis, sleeps and
fails. Worker 1 is killed during attempt 1; worker 2 runs attempt 2, which fails into the retry
topic, and is killed during attempt 3; worker 3 finds every attempt used up and dead-letters
the events. Its commits are then undone (the group's retry-topic offsets back to 0: what a kill
before they landed leaves), and worker 4 gets the dead-lettered records again and sends nothing
more.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from tests.integration.apps.kafka_attempts import MAX_ATTEMPTS, app
from tests.support.kafka import (
    WorkerProcess,
    create_topic,
    eventually,
    fast_failover,
    lag,
    log_end_offsets,
    produce,
    read_topic,
    rewind,
    unique,
    worker_env,
)

from tidal import Event, Settings
from tidal._bindings.kafka import to_record
from tidal._transports.kafka.names import topics_for

pytestmark = pytest.mark.integration

EVENTS = 4
SLEEP = 1.0  # seconds each attempt runs before it fails: the kills land inside it


async def test_workers_killed_mid_handler_make_no_attempt_beyond_max_and_one_dead_letter_each(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    topic, prefix, run = unique("attempts"), unique("attempts"), uuid.uuid4().hex
    names = topics_for(
        app.name,
        app.subscription("fail"),
        Settings(
            kafka={
                "bootstrap_servers": kafka_bootstrap,
                "topics": [topic],
                "group_id_prefix": prefix,
            }
        ).kafka,
    )
    await create_topic(kafka_bootstrap, topic, partitions=1)
    events = [
        Event.create(
            type="com.example.attempt.v1",
            source="/tests/attempts",
            id=f"{run}-{i}",
            data={"run": run, "sleep": SLEEP},
        )
        for i in range(EVENTS)
    ]
    records = []
    for event in events:
        message = to_record(event)
        records.append((event.id.encode(), message.value, list(message.headers.items())))
    await produce(kafka_bootstrap, topic, records)
    redis = Redis.from_url(redis_url)
    workers: list[WorkerProcess] = []

    def start(**extra: str) -> WorkerProcess:
        env = worker_env(kafka_bootstrap, topic=topic, prefix=prefix, redis_url=redis_url)
        env["TIDAL_IDEMPOTENCY__IN_PROGRESS_TTL"] = "1"  # a killed attempt's lease
        env |= fast_failover(kafka_bootstrap)  # a killed member leaves sooner
        env.update(extra)
        name = f"attempts-worker-{len(workers)}"
        worker = WorkerProcess("tests.integration.apps.kafka_attempts:app", env, tmp_path / name)
        workers.append(worker.start())
        return worker

    async def attempts() -> list[list[int]]:
        keys = [f"{run}:attempts:{e.id}" for e in events]
        return [[int(a) for a in await redis.lrange(k, 0, -1)] for k in keys]

    def started(n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return all(len(a) >= n for a in await attempts())

        return check

    async def drained() -> bool:
        return (
            await lag(kafka_bootstrap, names.group, names.retry) == 0
            and await lag(kafka_bootstrap, names.group, topic) == 0
        )

    async def output() -> str:
        return f"{await attempts()}\n{workers[-1].output()}"

    try:
        start()
        await eventually(
            started(1), within=30, what="attempt 1 running", interval=0.05, explain=output
        )
        workers[-1].kill()  # during attempt 1
        start()
        await eventually(
            started(3), within=30, what="attempt 3 running", interval=0.05, explain=output
        )
        workers[-1].kill()  # during attempt 3 (attempt 2 failed into the retry topic)
        start()

        async def letters() -> bool:
            return sum((await log_end_offsets(kafka_bootstrap, f"{topic}.dlq")).values()) >= EVENTS

        await eventually(letters, within=30, what="every event dead-lettered", explain=output)
        await eventually(drained, within=30, what="lag 0 after the dead letters", explain=output)
        assert workers[-1].terminate() == 0, workers[-1].output()
        await rewind(kafka_bootstrap, names.group, names.retry)
        assert await lag(kafka_bootstrap, names.group, names.retry) >= EVENTS
        start()
        await eventually(drained, within=30, what="lag 0", explain=output)
        made = await attempts()
        dead = sum((await log_end_offsets(kafka_bootstrap, f"{topic}.dlq")).values())
        letters_read = await read_topic(kafka_bootstrap, f"{topic}.dlq", count=dead)
    finally:
        for w in workers:
            w.stop()
        await redis.aclose()
    assert made == [list(range(1, MAX_ATTEMPTS + 1))] * EVENTS, "each attempt ran once, in order"
    assert dead == EVENTS, f"{dead} dead letters for {EVENTS} events"
    ids = sorted(dict(r.headers)["ce_id"].decode() for r in letters_read)
    assert ids == sorted(e.id for e in events)
    assert {dict(r.headers)["ce_tidalattempts"] for r in letters_read} == {b"3"}
