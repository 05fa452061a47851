"""The broker stalls and connections drop mid-stream: the worker rides it out by itself.

A broker of its own (tansu behind a TCP proxy it advertises, so every client connection goes
through the proxy) is frozen with SIGSTOP for 10 s, then every connection is cut, twice, while a
producer keeps feeding events; afterwards every acknowledged event must be handled and
committed, with no restart of the worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis
from tests.support.kafka import (
    Tansu,
    TcpProxy,
    WorkerProcess,
    create_topic,
    eventually,
    lag,
    proxied_tansu,
    unique,
    worker_env,
)

from tidal import Event
from tidal._bindings.kafka import to_record

pytestmark = pytest.mark.integration

STALL = 10.0


@pytest.fixture
def broker() -> Iterator[tuple[Tansu, TcpProxy]]:
    with proxied_tansu() as pair:
        yield pair


class Feed:
    """Produces events through the proxy until stopped; remembers the acknowledged ones."""

    def __init__(self, bootstrap: str, topic: str, run: str) -> None:
        self.bootstrap, self.topic, self.run = bootstrap, topic, run
        self.acked: set[str] = set()
        self.resent = 0
        self.stop = asyncio.Event()

    async def __call__(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=30_000
        )
        await producer.start()
        try:
            n = 0
            while not self.stop.is_set():
                batch = [self._event(n + i) for i in range(50)]
                n += len(batch)
                await self._send(producer, batch)
                await asyncio.sleep(0.05)
        finally:
            await producer.stop()

    def _event(self, i: int) -> Event:
        return Event.create(
            type="com.example.effect.v1",
            source="/tests/outages",
            id=f"{self.run}-{i}",
            data={"run": self.run},
            partitionkey=f"key-{i % 31}",
        )

    async def _send(self, producer: AIOKafkaProducer, batch: list[Event]) -> None:
        while batch:  # resend what was not acknowledged (duplicates are the worker's job)
            results = await asyncio.gather(
                *(self._send_one(producer, e) for e in batch), return_exceptions=True
            )
            self.acked.update(e.id for e, r in zip(batch, results, strict=True) if r is None)
            batch = [e for e, r in zip(batch, results, strict=True) if r is not None]
            if batch:
                self.resent += len(batch)
                await asyncio.sleep(0.2)

    async def _send_one(self, producer: AIOKafkaProducer, event: Event) -> None:
        message = to_record(event)
        headers = list(message.headers.items())
        future = await producer.send(self.topic, message.value, headers=headers)
        await future


async def test_a_stalled_broker_and_cut_connections_lose_nothing_and_processing_resumes(
    broker: tuple[Tansu, TcpProxy], redis_url: str, tmp_path: Path
) -> None:
    tansu, proxy = broker
    bootstrap = tansu.bootstrap  # the proxy's address
    topic, prefix, run = unique("outages"), unique("outages"), uuid.uuid4().hex
    group = f"{prefix}.effects"
    await create_topic(bootstrap, topic, partitions=3)
    redis = Redis.from_url(redis_url)
    env = worker_env(bootstrap, topic=topic, prefix=prefix, redis_url=redis_url)
    worker = WorkerProcess("tests.integration.apps.kafka_effects:app", env, tmp_path / "w.log")
    feed = Feed(bootstrap, topic, run)

    async def seen() -> int:
        return int(await redis.scard(f"{run}:seen"))

    async def progress(at_least: int, what: str) -> int:
        await eventually(
            lambda: _at_least(seen(), at_least),
            within=60,
            what=what,
            explain=lambda: _text(
                f"feed: {len(feed.acked)} acknowledged, {feed.resent} resent, "
                f"task {feeding}; worker log: {worker.output()}"
            ),
        )
        return await seen()

    feeding = asyncio.create_task(feed())
    try:
        worker.start()
        handled = await progress(500, "handling the first events")
        tansu.stall()
        stalled_at = time.monotonic()
        await asyncio.sleep(STALL)  # the outage itself: nothing to poll for
        tansu.resume()
        assert time.monotonic() - stalled_at >= STALL
        handled = await progress(handled + 300, "processing resuming after the stall")
        for cut in range(2):
            proxy.cut()
            handled = await progress(handled + 300, f"processing resuming after cut {cut + 1}")
        assert worker.alive(), worker.output()
        feed.stop.set()
        await feeding
        await eventually(
            lambda: _covers(redis, run, feed.acked),
            within=60,
            what=f"handling all {len(feed.acked)} acknowledged events",
            explain=lambda: _text(worker.output()),
        )
        await eventually(lambda: _zero(lag(bootstrap, group, topic)), within=30, what="lag 0")
        assert worker.terminate() == 0, worker.output()
    finally:
        feed.stop.set()
        worker.stop()
        await asyncio.gather(feeding, return_exceptions=True)
        await redis.aclose()
    assert proxy.cuts >= 2


async def _covers(redis: Redis, run: str, acked: set[str]) -> bool:
    seen = {m.decode() for m in await redis.smembers(f"{run}:seen")}
    return acked <= seen


async def _at_least(value: object, expected: int) -> bool:
    return await value >= expected  # type: ignore[operator,no-any-return]


async def _zero(value: object) -> bool:
    return await value == 0  # type: ignore[misc,no-any-return]


async def _text(value: object) -> str:
    return str(value)
