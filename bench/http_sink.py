"""``K_SINK`` sender benchmark: `HttpSink` (aiohttp) vs the httpx client it replaced.

Both post binary-mode CloudEvents one by one from 16 concurrent senders, as a loaded gateway or
`tidal run` does, to a no-op `tidal run` service (``bench.apps:app`` under uvicorn, another
process); the httpx baseline is the sink's former code over the same kept-alive limits. Rounds
alternate so drift hits both alike. Run: ``python -m bench.http_sink --rounds 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx
from harness.servers import free_port

from bench.http_path import start, tidal_cmd
from tidal._bindings.http import to_binary
from tidal._events import Event
from tidal._transports.http.sinks import HttpSink, open_session
from tidal.testing import make_event

Send = Callable[[Sequence[Event]], Awaitable[None]]


class HttpxSink:
    """The former sink: ``httpx.AsyncClient.post`` per event."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client, self.url = client, url

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            headers, body = to_binary(event)
            response = await self.client.post(self.url, content=body, headers=headers)
            response.raise_for_status()


async def drive(send: Send, *, events: int, senders: int) -> float:
    """Events per second ``senders`` concurrent senders manage."""
    pending = iter([make_event(id=f"e{i}", data={"n": i}) for i in range(events)])

    async def sender() -> None:
        for event in pending:
            await send([event])

    began = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return events / (time.monotonic() - began)


async def rounds(url: str, *, count: int, events: int, senders: int) -> None:
    aio: list[float] = []
    old: list[float] = []
    for _ in range(count):
        async with open_session() as session:
            aio.append(await drive(HttpSink(session, url).send, events=events, senders=senders))
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            old.append(await drive(HttpxSink(client, url).send, events=events, senders=senders))
    a, h = statistics.median(aio), statistics.median(old)
    print(f"HttpSink (aiohttp) {a:,.0f} events/s (rounds: {', '.join(f'{x:,.0f}' for x in aio)})")
    print(f"httpx sink         {h:,.0f} events/s (rounds: {', '.join(f'{x:,.0f}' for x in old)})")
    print(f"ratio aiohttp / httpx: {a / h:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    proc = start(tidal_cmd(port), port)
    try:
        asyncio.run(
            rounds(
                f"http://127.0.0.1:{port}/",
                count=args.rounds,
                events=args.events,
                senders=args.senders,
            )
        )
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
