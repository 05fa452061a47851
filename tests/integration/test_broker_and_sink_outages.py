"""The Kafka broker or an HTTP sink goes down: the event waits, no attempt is used up.

Kafka: a broker of its own (tansu behind a TCP proxy it advertises, so every client connection
goes through the proxy); the handler itself takes the broker down (the proxy points at a port
where nothing listens and drops every connection), so what it emits, or the dead letter it
causes, meets the outage. Each subscription allows one attempt only: an outage counted as a
failed attempt would dead-letter the event at once. While the broker is down the worker says
so: ``kafka`` in `tidal._health.unavailable` (``/readyz``) and ``tidal_dependency_up`` 0.

HTTP: ``K_SINK`` is a port where nothing listens until a real sink (aiohttp's server) starts
there; meanwhile the request is answered 503 ``dependency_unavailable`` with ``Retry-After``
and ``/readyz`` names the sink, until it finds the sink back by itself (a pod that is not
ready gets no requests that could).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from tests.support.kafka import (
    Tansu,
    TcpProxy,
    create_topic,
    eventually,
    log_end_offsets,
    produce,
    proxied_tansu,
    read_topic,
    unique,
    worker_settings,
)
from tests.support.servers import free_port

from tidal import App, Context, DeliveryPolicy, Event, PermanentError
from tidal import _health as health
from tidal._bindings.kafka import to_record
from tidal._dispatching import Dispatcher
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal._transports.http.sinks import HttpSink, open_session
from tidal._transports.kafka import KafkaWorker
from tidal.observability._collector import render
from tidal.observability._listener import listen

pytestmark = pytest.mark.integration

ONE_ATTEMPT = DeliveryPolicy(max_attempts=1)
TYPE = "com.example.outage.v1"


@pytest.fixture
def broker() -> Iterator[tuple[Tansu, TcpProxy]]:
    with proxied_tansu() as pair:
        yield pair


def take_down(proxy: TcpProxy) -> None:
    proxy.target_port = free_port()  # nothing listens there
    proxy.cut()


def dependency_up(service: str, dependency: str) -> float | None:
    body, _ = render()
    wanted = {"service": service, "dependency": dependency}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "tidal_dependency_up" and sample.labels == wanted:
                return sample.value
    return None


async def kafka_down() -> bool:
    return "kafka" in health.unavailable()


async def source_record(bootstrap: str) -> str:
    topic = unique("outage")
    await create_topic(bootstrap, topic, partitions=1)
    message = to_record(Event.create(type=TYPE, source="/t", data={}))
    await produce(bootstrap, topic, [(None, message.value, list(message.headers.items()))])
    return topic


async def test_an_emit_the_broker_cannot_take_pauses_and_lands_once_it_is_back(
    broker: tuple[Tansu, TcpProxy],
) -> None:
    tansu, proxy = broker
    bootstrap = tansu.bootstrap
    topic, out = await source_record(bootstrap), unique("emitted")
    await create_topic(bootstrap, out, partitions=1)
    attempts: list[int] = []
    app = App("emitter", policy=ONE_ATTEMPT)

    @app.on(type=TYPE)
    async def work(event: Event, ctx: Context) -> Event:
        attempts.append(ctx.attempt)
        if len(attempts) == 1:
            take_down(proxy)
        return Event.create(type="com.example.done.v1", source="/t", data={"n": len(attempts)})

    settings = worker_settings(bootstrap, topic=topic, emit_topic=out, request_timeout_ms=2000)
    listener = listen(0, host="127.0.0.1")  # the worker's /metrics, /healthz, /readyz
    readyz = f"http://127.0.0.1:{listener.port}/readyz"
    try:
        async with KafkaWorker(app, settings) as worker:
            await eventually(kafka_down, within=30, what="the broker reported down")
            assert dependency_up(worker.service, "kafka") == 0
            not_ready = await asyncio.to_thread(httpx.get, readyz)
            proxy.target_port = tansu.port

            async def handled() -> bool:
                return worker.metrics.count("work", "handled") == 1

            await eventually(handled, within=60, what="the event handled once the broker is back")
            assert dependency_up(worker.service, "kafka") == 1
            ready = await asyncio.to_thread(httpx.get, readyz)
            metrics, dlq = worker.metrics, worker.topics["work"].dlqs()
    finally:
        listener.close()
    assert not_ready.status_code == 503
    assert "producing 1 event(s)" in not_ready.json()["down"]["kafka"]
    assert "kafka" not in ready.json().get("down", {})
    assert len(attempts) >= 2  # run again once the broker was back...
    assert set(attempts) == {1}  # ...at the same attempt: the outage used none up
    assert metrics.count("work", "paused") >= 1
    assert metrics.count("work", "retried") == metrics.count("work", "dead_lettered") == 0
    assert len(await read_topic(bootstrap, out, count=1)) >= 1
    for name in dlq:
        assert sum((await log_end_offsets(bootstrap, name)).values()) == 0


async def test_a_dead_letter_waits_for_the_broker_without_running_the_handler_again(
    broker: tuple[Tansu, TcpProxy],
) -> None:
    tansu, proxy = broker
    bootstrap = tansu.bootstrap
    topic = await source_record(bootstrap)
    attempts: list[int] = []
    app = App("letters", policy=ONE_ATTEMPT)

    @app.on(type=TYPE)
    async def work(event: Event, ctx: Context) -> None:
        attempts.append(ctx.attempt)
        take_down(proxy)
        raise PermanentError("no such order")

    settings = worker_settings(bootstrap, topic=topic, request_timeout_ms=2000)
    async with KafkaWorker(app, settings) as worker:
        await eventually(kafka_down, within=30, what="the broker reported down")
        proxy.target_port = tansu.port

        async def lettered() -> bool:
            return worker.metrics.count("work", "dead_lettered") == 1

        await eventually(lettered, within=60, what="the dead letter produced once it is back")
        dlq = worker.topics["work"].dlq(topic)
    assert attempts == [1]
    assert not await kafka_down()
    assert len(await read_topic(bootstrap, dlq, count=1)) == 1


async def test_http_answers_503_with_retry_after_while_k_sink_is_down_and_readyz_names_it() -> None:
    sink_port = free_port()  # nothing listens there until the sink starts
    app = App("replier", policy=ONE_ATTEMPT)
    seen: list[str] = []

    @app.on(type=TYPE)
    async def work(event: Event) -> Event:
        return Event.create(type="com.example.done.v1", source="/t", data={})

    async def accept(request: web.Request) -> web.Response:
        seen.append(request.headers["ce-type"])
        return web.Response(status=202)

    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/t",
        "ce-type": TYPE,
        "content-type": "application/json",
    }
    async with open_session(seconds=2.0) as session:
        receiver = Receiver(
            dispatcher=Dispatcher(app),
            max_body_bytes=4096,
            emit=HttpSink(session, f"http://127.0.0.1:{sink_port}/").send,
        )
        transport = httpx.ASGITransport(app=create_asgi_app(receiver))
        async with httpx.AsyncClient(transport=transport, base_url="http://tidal") as client:
            down = await client.post("/", headers=headers, content=b"{}")
            not_ready = await client.get("/readyz")
            sink = web.Application()
            sink.router.add_post("/", accept)
            runner = web.AppRunner(sink)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", sink_port).start()
            try:  # ready again before any event: out of traffic, /readyz probes the sink
                ready = await client.get("/readyz")
                up = await client.post("/", headers=headers, content=b"{}")
            finally:
                await runner.cleanup()
    assert down.status_code == 503
    assert down.json()["error"] == "dependency_unavailable"
    assert down.headers["retry-after"] == "1"
    assert not_ready.status_code == 503
    assert f"127.0.0.1:{sink_port}" in not_ready.json()["down"]["sink"]
    assert up.status_code == 200
    assert "sink" not in ready.json().get("down", {})  # (other tests' clients may linger)
    assert seen == ["com.example.done.v1"]
    assert receiver.dispatcher.stats.get("work", "paused") == 1
