"""Hung sync handlers cannot starve the others (issue 17, finding 5).

Before: sync handlers ran on asyncio's shared default executor (``min(32, cpus + 4)`` threads,
6 on a 2-core machine) and a timed-out call kept its thread, so two hanging events, each
attempted three times, filled it and every sync handler after them timed out and was
dead-lettered while the process looked healthy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tidal import App, DeliveryPolicy, Event
from tidal import _health as health
from tidal._dispatching import Dispatcher
from tidal._pools import PoolExhausted, SyncPool
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal.observability._collector import render
from tidal.observability._listener import listen
from tidal.testing import MemoryBroker, make_event

HUNG = 0.2


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: the hung handlers return and their threads end."""
    gate = threading.Event()
    yield gate
    gate.set()


def hanging_app(release: threading.Event, handled: list[str]) -> App:
    app = App("hangs")

    @app.on(type="hang.v1", policy=DeliveryPolicy.of(max_attempts=3, delay=0.01, timeout=HUNG))
    def hang(event: Event) -> None:
        release.wait(30)

    @app.on(type="work.v1", policy=DeliveryPolicy.of(max_attempts=1, timeout=2))
    def work(event: Event) -> None:
        handled.append(event.id)

    return app


async def test_two_hanging_events_do_not_starve_the_other_sync_handlers(
    release: threading.Event,
) -> None:
    handled: list[str] = []
    broker = MemoryBroker(hanging_app(release, handled))
    for n in range(2):
        await broker.publish(make_event("hang.v1", id=f"hang-{n}"))
    await broker.drain()  # 2 events x 3 attempts: 6 threads left running their handler
    assert len(broker.dead_letters["dead-letters"]) == 2
    work = [make_event("work.v1", id=f"work-{n}") for n in range(20)]
    await broker.publish_many(work)
    await broker.drain()
    assert sorted(handled) == sorted(e.id for e in work)
    assert len(broker.dead_letters["dead-letters"]) == 2
    assert _hung("hangs") == {"hang": 6.0}  # counted, and exported
    release.set()
    for _ in range(100):
        if _hung("hangs") == {"hang": 0.0}:
            break
        await asyncio.sleep(0.02)
    assert _hung("hangs") == {"hang": 0.0}


async def test_a_pool_whose_threads_all_hang_refuses_calls_and_makes_the_process_unhealthy(
    release: threading.Event,
) -> None:
    pool = SyncPool("stuck", size=2)
    for _ in range(2):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await pool.run(release.wait, 30)
    assert pool.abandoned == 2
    assert any("subscription stuck: 2 sync handler threads" in p for p in health.problems())
    with pytest.raises(PoolExhausted):
        await pool.run(lambda: None)
    release.set()
    await _recovered(pool)
    assert health.problems() == []
    assert await pool.run(lambda x: x + 1, 41) == 42


async def test_liveness_endpoints_fail_while_a_pool_is_exhausted(
    release: threading.Event,
) -> None:
    """The HTTP server's and the Kafka worker's metrics listener's ``/healthz`` (the probes the
    chart points Kubernetes at) answer 503 naming the pool, and 200 again once it recovers."""
    pool = SyncPool("stuck", size=1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await pool.run(release.wait, 30)
    listener = listen(0, host="127.0.0.1")
    receiver = Receiver(dispatcher=Dispatcher(App("web")), max_body_bytes=1024)
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            served = await client.get("/healthz")
            worker = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{listener.port}/healthz")
            for response in (served, worker):
                assert response.status_code == 503
                assert "subscription stuck" in response.json()["problems"][0]
            release.set()
            await _recovered(pool)
            assert (await client.get("/healthz")).status_code == 200
        metrics = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{listener.port}/metrics")
        assert metrics.status_code == 200
        assert b"tidal_info" in metrics.content
    finally:
        listener.close()


async def _recovered(pool: SyncPool) -> None:
    """Wait (up to 2 s) until the pool's abandoned threads have returned."""
    for _ in range(100):
        if pool.abandoned == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{pool.abandoned} threads still hung")


def test_the_pool_size_comes_from_the_settings_tidal_run_reads() -> None:
    from tidal._pools import DEFAULT_SIZE, SyncPools, default_size
    from tidal._settings import Settings

    default_size(Settings(sync_threads=3).sync_threads)
    try:
        assert SyncPools().pool("s").size == 3
        assert SyncPools().pool("s").max_abandoned == 3
    finally:
        default_size(DEFAULT_SIZE)


def _hung(service: str) -> dict[str, float]:
    """``tidal_sync_threads_hung`` by subscription, as /metrics exports it."""
    body, _ = render()
    return {
        sample.labels["subscription"]: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "tidal_sync_threads_hung" and sample.labels["service"] == service
    }


async def test_callers_beyond_the_pool_size_wait_for_a_thread_even_when_one_gives_up() -> None:
    pool = SyncPool("busy", size=2)
    gate = threading.Event()
    running = [asyncio.create_task(pool.run(gate.wait, 5)) for _ in range(2)]
    waiting = [asyncio.create_task(pool.run(lambda n=n: n)) for n in range(3)]
    await asyncio.sleep(0.05)
    waiting[0].cancel()  # one queued caller gives up: the others still get a thread
    gate.set()
    assert await asyncio.gather(*running) == [True, True]
    assert await asyncio.gather(*waiting[1:]) == [1, 2]
    assert pool.abandoned == 0
