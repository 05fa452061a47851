"""Sending events over HTTP (binary mode): to ``K_SINK`` or a dead-letter URL, with aiohttp.

The HTTP server (`serving`) uses `HttpSink` for emitted events and dead letters, and
`tidal.transports.publishers.open_publisher` for an ingress publishing to ``K_SINK``; both hold
one `open_session` for the life of the process, so connections are pooled and kept alive. A
failed send is a `RetryableError`: the input is not acknowledged and the broker redelivers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

import aiohttp

from tidal.bindings.http import to_binary
from tidal.errors import RetryableError
from tidal.events import Event
from tidal.redaction import redact_url, scrub

CONNECTIONS: Final = 256
TIMEOUT: Final = 10.0


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
    """POSTs events one by one to a URL; any non-2xx answer or transport error is retryable."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            await self._post(event)

    async def _post(self, event: Event) -> None:
        headers, body = to_binary(event)
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                await response.read()  # the connection goes back to the pool for reuse
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            failed = f"sending {event.id} to {redact_url(self.url)} failed: {exc!r}"
            raise RetryableError(scrub(failed, self.url)) from exc
        if not 200 <= status < 300:
            where = redact_url(self.url)
            raise RetryableError(f"sink {where} answered {status} for {event.id}")
