"""Sending events over HTTP (binary mode): to ``K_SINK``, a dead-letter URL, or by `tidal send`.

The HTTP server uses `HttpSink` for emitted events and dead letters; a failed send is a
`RetryableError`, so the input is not acknowledged and the broker redelivers it.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from tidal.bindings.http import to_binary
from tidal.errors import RetryableError
from tidal.events import Event


class HttpSink:
    """POSTs events one by one to a URL; any non-2xx answer or transport error is retryable."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            await self._post(event)

    async def _post(self, event: Event) -> None:
        headers, body = to_binary(event)
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableError(f"sending {event.id} to {self.url} failed: {exc!r}") from exc
        if not response.is_success:
            raise RetryableError(f"sink {self.url} answered {response.status_code} for {event.id}")
