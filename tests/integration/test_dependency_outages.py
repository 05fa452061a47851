"""The idempotency store goes down: every transport pauses the event, no attempt is used up.

A real ``redis-server`` sits behind a TCP proxy; while the proxy points at a port where nothing
listens, every connection it takes is reset (what a client sees when Redis is down), and
pointing it back at Redis ends the outage. Each subscription allows one attempt only, so an
outage counted as a failed attempt would dead-letter the event at once. While Redis is down,
``/readyz`` answers 503 naming it and ``tidal_dependency_up{dependency="redis"}`` is 0; a Redis
that accepts connections and never answers (a listening socket nobody reads) pauses the same
way once the client's timeout passes, instead of holding the attempt forever.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.kafka import (
    TcpProxy,
    create_topic,
    eventually,
    log_end_offsets,
    produce,
    unique,
    worker_settings,
)
from tests.support.servers import free_port

from tidal import App, Context, DeliveryPolicy, Event
from tidal._bindings.kafka import to_record
from tidal._dispatching import Dispatcher
from tidal._idempotency import Idempotency, Status
from tidal._settings import IdempotencySettings
from tidal._stores.coalescing import CoalescingStore
from tidal._stores.factory import make_idempotency
from tidal._stores.redis import RedisIdempotencyStore
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal._transports.kafka import KafkaWorker
from tidal.observability import Source, register, unregister
from tidal.observability._collector import render
from tidal.testing import MemoryBroker

pytestmark = pytest.mark.integration

ONE_ATTEMPT = DeliveryPolicy(max_attempts=1)


@pytest.fixture
def outage(redis_url: str) -> Iterator[Outage]:
    proxy = TcpProxy(target_port=free_port()).start()  # nothing listens there: Redis is down
    try:
        yield Outage(proxy, int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    finally:
        proxy.stop()


class Outage:
    """A Redis that is down until `end`."""

    def __init__(self, proxy: TcpProxy, redis_port: int) -> None:
        self.proxy, self.redis_port = proxy, redis_port
        self.url = f"redis://127.0.0.1:{proxy.port}/0"

    def guard(self) -> Idempotency:
        return Idempotency(RedisIdempotencyStore.from_url(self.url))

    def end(self) -> None:
        self.proxy.target_port = self.redis_port

    def begin(self) -> None:
        self.proxy.target_port = free_port()
        self.proxy.cut()  # the pooled connections too


def recording_app(attempts: list[int]) -> App:
    app = App("outage", policy=ONE_ATTEMPT)

    @app.on(type="com.example.outage.v1", idempotent=True)
    async def work(event: Event, ctx: Context) -> None:
        attempts.append(ctx.attempt)

    return app


async def test_memory_waits_out_a_store_outage_and_handles_the_event_at_its_first_attempt(
    outage: Outage,
) -> None:
    attempts: list[int] = []
    guard = outage.guard()
    broker = MemoryBroker(recording_app(attempts), idempotency=guard)
    try:
        await broker.publish(Event.create(type="com.example.outage.v1", source="/t", data={}))
        await asyncio.sleep(1.5)  # a paused attempt tries again after a second
        assert attempts == []
        assert broker.all_dead_letters() == []
        outage.end()
        await asyncio.wait_for(broker.drain(), 10)
    finally:
        await guard.store.close()
    assert attempts == [1]
    assert broker.all_dead_letters() == []
    assert broker.stats.get("work", "retried") == broker.stats.get("work", "failed") == 0
    assert broker.stats.get("work", "handled") == 1


async def test_an_effect_that_ran_is_completed_once_the_store_returns_never_run_again(
    outage: Outage,
) -> None:
    """Redis dies while the handler runs, so recording its completion fails; the guard keeps
    trying until Redis is back (longer than the in-progress lease here) and completes the
    record: the handler ran once, nothing is retried or dead-lettered, and a redelivery of
    the event is a duplicate. (Before, the failed complete paused the attempt and the handler
    ran a second time.)"""
    outage.end()
    app, attempts = app_starting_an_outage(outage)
    guard = Idempotency(
        RedisIdempotencyStore.from_url(outage.url), wait_timeout=1.0, in_progress_ttl=0.5
    )
    broker = MemoryBroker(app, idempotency=guard)
    event = Event.create(type="com.example.outage.v1", source="/t", data={})
    try:
        await broker.publish(event)
        await asyncio.sleep(1.5)
        assert attempts == [1]
        assert broker.stats.get("work", "handled") == 0  # not done until it is recorded
        outage.end()
        await asyncio.wait_for(broker.drain(), 10)
        record = await guard.store.get(Dispatcher(app).key(app.subscription("work"), event))
        await broker.publish(event)  # a redelivery
        await asyncio.wait_for(broker.drain(), 10)
    finally:
        await guard.store.close()
    assert attempts == [1]
    assert record is not None
    assert record.status is Status.COMPLETED
    assert broker.all_dead_letters() == []
    assert broker.stats.get("work", "retried") == 0
    assert (broker.stats.get("work", "handled"), broker.stats.get("work", "duplicate")) == (1, 1)


async def test_http_answers_503_with_retry_after_while_the_store_is_down(outage: Outage) -> None:
    attempts: list[int] = []
    guard = outage.guard()
    receiver = Receiver(
        dispatcher=Dispatcher(recording_app(attempts), idempotency=guard), max_body_bytes=4096
    )
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/t",
        "ce-type": "com.example.outage.v1",
        "content-type": "application/json",
    }
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://tidal") as client:
        try:
            down = await client.post("/", headers=headers, content=b"{}")
            outage.end()
            up = await client.post("/", headers=headers, content=b"{}")
        finally:
            await guard.store.close()
    assert down.status_code == 503
    assert down.json()["error"] == "dependency_unavailable"
    assert down.headers["retry-after"] == "1"
    assert (up.status_code, attempts) == (200, [1])


async def test_kafka_holds_the_record_through_a_store_outage_and_sends_nothing_to_retry(
    kafka_bootstrap: str, outage: Outage
) -> None:
    topic = unique("outage")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    message = to_record(Event.create(type="com.example.outage.v1", source="/t", data={}))
    await produce(kafka_bootstrap, topic, [(None, message.value, list(message.headers.items()))])
    attempts: list[int] = []
    settings = worker_settings(kafka_bootstrap, topic=topic)
    async with KafkaWorker(recording_app(attempts), settings, idempotency=outage.guard()) as worker:
        metrics = worker.metrics

        async def consumed() -> bool:
            return metrics.subscriptions["work"].consumed == 1

        await eventually(consumed, within=30, what="the record fetched")
        await asyncio.sleep(2.5)  # paused attempts come back every second
        assert attempts == []
        outage.end()

        async def handled() -> bool:
            return metrics.count("work", "handled") == 1

        await eventually(handled, within=15, what="the event handled once Redis is back")
        retry_topic = worker.topics["work"].retry
    assert attempts == [1]
    assert metrics.count("work", "retried") == metrics.count("work", "dead_lettered") == 0
    assert sum((await log_end_offsets(kafka_bootstrap, retry_topic)).values()) == 0


def samples(name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of metric ``name`` now, by their labels."""
    body, _ = render()
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    }


def dependency_up(service: str, dependency: str) -> float | None:
    return samples("tidal_dependency_up").get(
        frozenset({"service": service, "dependency": dependency}.items())
    )


async def test_readyz_and_the_dependency_metric_name_redis_while_it_is_down(
    outage: Outage,
) -> None:
    attempts: list[int] = []
    guard = outage.guard()
    receiver = Receiver(
        dispatcher=Dispatcher(recording_app(attempts), idempotency=guard), max_body_bytes=4096
    )
    source = register(
        receiver, Source(service="outage-ready", transport="http", stats=receiver.dispatcher.stats)
    )
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-ready",
        "ce-source": "/t",
        "ce-type": "com.example.outage.v1",
        "content-type": "application/json",
    }
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tidal") as client:
            assert (await client.post("/", headers=headers, content=b"{}")).status_code == 503
            down = await client.get("/readyz")
            up_while_down = dependency_up("outage-ready", "redis")
            paused = samples("tidal_events_total").get(
                frozenset(
                    {
                        "service": "outage-ready",
                        "subscription": "work",
                        "event_type": "com.example.outage.v1",
                        "outcome": "paused",
                    }.items()
                )
            )
            outage.end()
            ready = await client.get("/readyz")  # before any event: it probes Redis itself
            up_after = dependency_up("outage-ready", "redis")
            assert (await client.post("/", headers=headers, content=b"{}")).status_code == 200
    finally:
        unregister(source)
        await guard.store.close()
    assert down.status_code == 503
    assert down.json()["status"] == "dependency_unavailable"
    assert "idempotency store unavailable" in down.json()["down"]["redis"]
    assert (up_while_down, paused) == (0, 1)
    assert "redis" not in ready.json().get("down", {})  # (other tests' clients may linger)
    assert up_after == 1
    assert attempts == [1]


async def test_a_redis_that_never_answers_pauses_the_event_instead_of_holding_it() -> None:
    """A listening socket nobody reads: connections are made, no reply ever comes (a hung
    Redis). redis-py waits forever by default; the configured timeout makes it an outage."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        settings = IdempotencySettings(
            backend="redis", redis_url=url, redis_connect_timeout=0.5, redis_timeout=0.5
        )
        guard = make_idempotency(settings)
        assert guard is not None
        attempts: list[int] = []
        broker = MemoryBroker(recording_app(attempts), idempotency=guard)
        try:
            await broker.publish(Event.create(type="com.example.outage.v1", source="/t", data={}))

            async def paused() -> bool:
                return broker.stats.get("work", "paused") >= 1

            await eventually(paused, within=20, what="the attempt paused on the hung Redis")
        finally:
            await broker.close()
            await guard.store.close()
    assert attempts == []
    assert broker.all_dead_letters() == []
    assert broker.stats.get("work", "retried") == broker.stats.get("work", "failed") == 0


async def test_kafka_completes_an_effect_that_ran_once_the_store_returns(
    kafka_bootstrap: str, outage: Outage
) -> None:
    """The worker's own store (coalesced completes, as `tidal run` builds it): Redis dies while
    the handler runs; the complete is retried until Redis is back, longer than the lease; the
    handler ran once, and nothing was retried or dead-lettered."""
    outage.end()
    topic = unique("outage")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    message = to_record(Event.create(type="com.example.outage.v1", source="/t", data={}))
    await produce(kafka_bootstrap, topic, [(None, message.value, list(message.headers.items()))])
    app, attempts = app_starting_an_outage(outage)
    guard = Idempotency(
        CoalescingStore(RedisIdempotencyStore.from_url(outage.url)), in_progress_ttl=0.5
    )
    settings = worker_settings(kafka_bootstrap, topic=topic)
    async with KafkaWorker(app, settings, idempotency=guard) as worker:
        metrics = worker.metrics

        async def ran() -> bool:
            return attempts == [1]

        await eventually(ran, within=30, what="the handler run")
        await asyncio.sleep(2.0)  # the complete keeps failing, past the lease
        assert metrics.count("work", "handled") == 0
        outage.end()

        async def handled() -> bool:
            return metrics.count("work", "handled") == 1

        await eventually(handled, within=15, what="the effect completed once Redis is back")
        retry_topic = worker.topics["work"].retry
    assert attempts == [1]
    assert metrics.count("work", "retried") == metrics.count("work", "dead_lettered") == 0
    assert sum((await log_end_offsets(kafka_bootstrap, retry_topic)).values()) == 0


def app_starting_an_outage(outage: Outage) -> tuple[App, list[int]]:
    """An App whose one idempotent handler starts ``outage`` during its first run, and the
    attempt numbers it ran with."""
    attempts: list[int] = []
    app = App("outage", policy=ONE_ATTEMPT)

    @app.on(type="com.example.outage.v1", idempotent=True)
    async def work(event: Event, ctx: Context) -> None:
        attempts.append(ctx.attempt)
        if len(attempts) == 1:
            outage.begin()

    return app, attempts
