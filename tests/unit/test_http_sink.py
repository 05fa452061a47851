"""`HttpSink` against a real local HTTP server (aiohttp's, on a free port): binary-mode posts,
concurrent sends over a bounded keep-alive pool, and every failure a `RetryableError`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tidal import RetryableError
from tidal._transports.http.sinks import HttpSink, open_session
from tidal.testing import make_event


@dataclass
class Received:
    """What the server saw: each request's event id and data, and the client's ports."""

    ids: list[str] = field(default_factory=list)
    data: list[object] = field(default_factory=list)
    peers: set[int] = field(default_factory=set)
    status: int = 202
    delay: float = 0.0


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Received]]:
    seen = Received()

    async def accept(request: web.Request) -> web.Response:
        seen.ids.append(request.headers["ce-id"])
        body = await request.read()
        seen.data.append(json.loads(body) if body else None)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            seen.peers.add(peer[1])
        await asyncio.sleep(seen.delay)
        return web.Response(status=seen.status)

    app = web.Application()
    app.router.add_post("/", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/", seen
    finally:
        await runner.cleanup()


async def test_concurrent_sends_all_arrive_over_the_pooled_connections(
    server: tuple[str, Received],
) -> None:
    url, seen = server
    seen.delay = 0.01  # requests overlap, so the pool is really shared
    batches = [
        [make_event("t", id=f"e{b}-{i}", data={"n": i}) for i in range(10)] for b in range(16)
    ]
    async with open_session(connections=4) as session:
        sink = HttpSink(session, url)
        await asyncio.gather(*(sink.send(batch) for batch in batches))
    assert sorted(seen.ids) == sorted(e.id for batch in batches for e in batch)
    assert {"n": 9} in seen.data
    assert 1 <= len(seen.peers) <= 4  # kept alive and reused, never more than the limit
    assert session.closed


async def test_events_of_one_send_arrive_in_order(server: tuple[str, Received]) -> None:
    url, seen = server
    events = [make_event("t", id=f"o{i}") for i in range(20)]
    async with open_session() as session:
        await HttpSink(session, url).send(events)
    assert seen.ids == [e.id for e in events]


async def test_a_non_2xx_answer_is_retryable_and_names_the_status(
    server: tuple[str, Received],
) -> None:
    url, seen = server
    seen.status = 503
    async with open_session() as session:
        with pytest.raises(RetryableError, match="answered 503 for x1"):
            await HttpSink(session, url).send([make_event("t", id="x1")])


async def test_an_unreachable_sink_is_retryable() -> None:
    async with open_session() as session:
        sink = HttpSink(session, "http://127.0.0.1:1/")  # nothing listens on port 1
        with pytest.raises(RetryableError, match=r"sending x2 to .* failed"):
            await sink.send([make_event("t", id="x2")])


async def test_a_sink_slower_than_the_timeout_is_retryable(server: tuple[str, Received]) -> None:
    url, seen = server
    seen.delay = 2.0
    async with open_session(seconds=0.2) as session:
        with pytest.raises(RetryableError, match=r"sending x3 to .* failed: .*Timeout"):
            await HttpSink(session, url).send([make_event("t", id="x3")])
