"""Sending events over HTTP (binary mode): to ``K_SINK`` or a dead-letter URL, with aiohttp.

The HTTP server (`serving`) uses `HttpSink` for emitted events and dead letters, and
`tidal._transports.publishers.open_publisher` for an ingress publishing to ``K_SINK``; both hold
one `open_session` for the life of the process, so connections are pooled and kept alive. A
failed send is a `RetryableError`: the input is not acknowledged and the broker redelivers it.
A sink that cannot be reached (the connection refused or reset, no answer in time) or answers
502 / 503 / 504 is down rather than the event failing: `DependencyUnavailableError`, so the
attempt pauses uncounted where the transport counts attempts, the request is answered 503
``dependency_unavailable`` with ``Retry-After``, and the sink's `tidal._health.Dependency`
(``sink``, or ``dead_letter_sink``) is down until a send succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from tidal import _health as health
from tidal._bindings.http import to_binary
from tidal._errors import DependencyUnavailableError, RetryableError
from tidal._events import Event
from tidal._redaction import redact_url, scrub

CONNECTIONS: Final = 256
TIMEOUT: Final = 10.0
SINK: Final = "sink"
DEAD_LETTER_SINK: Final = "dead_letter_sink"
UNAVAILABLE: Final = frozenset({502, 503, 504})  # a gateway or the sink itself says it is down


@asynccontextmanager
async def open_session(
    *, connections: int = CONNECTIONS, seconds: float = TIMEOUT
) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session keeping up to ``connections`` connections alive (requests beyond
    that wait for one); each request may take ``seconds`` in all. Closed on exit."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=seconds),
        auto_decompress=False,  # the answer is only checked for its status
    )
    try:
        yield session
    finally:
        await session.close()


class HttpSink:
    """POSTs events one by one to a URL; any non-2xx answer or transport error is retryable,
    and one saying the sink is down is `DependencyUnavailableError` (``dependency`` names it)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, dependency: str = SINK) -> None:
        self.session = session
        self.url = url
        self.dependency = dependency
        self.health = health.dependency(dependency, self.reachable)

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            await self._post(event)

    async def _post(self, event: Event) -> None:
        headers, body = to_binary(event)
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                await response.read()  # the connection goes back to the pool for reuse
                status = response.status
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            failed = f"sending {event.id} to {redact_url(self.url)} failed: {exc!r}"
            raise self._down(scrub(failed, self.url)) from exc
        except aiohttp.ClientError as exc:
            failed = f"sending {event.id} to {redact_url(self.url)} failed: {exc!r}"
            raise RetryableError(scrub(failed, self.url)) from exc
        if status in UNAVAILABLE:
            raise self._down(f"sink {redact_url(self.url)} answered {status} for {event.id}")
        self.health.up()  # it answered: up, whatever the answer
        if not 200 <= status < 300:
            where = redact_url(self.url)
            raise RetryableError(f"sink {where} answered {status} for {event.id}")

    async def reachable(self) -> None:
        """Raise unless the sink's host accepts a connection (``/readyz`` probes it while the
        sink is down: a process out of traffic sends nothing that would find it back)."""
        url = urlsplit(self.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        _, writer = await asyncio.open_connection(url.hostname, port)
        writer.close()
        await writer.wait_closed()

    def _down(self, why: str) -> DependencyUnavailableError:
        self.health.down(why)
        return DependencyUnavailableError(why, dependency=self.dependency)
