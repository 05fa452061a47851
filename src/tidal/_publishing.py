"""The publishing port: how code that is not a handler puts events onto the broker.

An ingress (the reference gateway) or a batch job holds a `Publisher` and calls `publish_many`;
it returns once the transport has accepted every event (a broker acknowledgement, a 2xx from the
sink), and raises `RetryableError` when it could not. Implementations live with the transports:
`tidal.testing.MemoryBroker` (in process), the Kafka transport's `KafkaPublisher` (a topic) and
`tidal._transports.http.sinks.HttpSink` behind `SinkPublisher` (``K_SINK``). This module imports
no network client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from tidal._events import Event


@runtime_checkable
class Publisher(Protocol):
    """Puts events onto the broker, in order; returns once all of them are accepted."""

    async def publish_many(self, events: Sequence[Event]) -> None: ...


class SinkPublisher:
    """A `Publisher` over any ``send(events)`` coroutine function (e.g. an HTTP sink's)."""

    def __init__(self, send: Callable[[Sequence[Event]], Awaitable[None]]) -> None:
        self._send = send

    async def publish_many(self, events: Sequence[Event]) -> None:
        if events:
            await self._send(events)


class DiscardingPublisher:
    """A `Publisher` that accepts and forgets events, counting them (benchmarks, dry runs)."""

    def __init__(self) -> None:
        self.count = 0

    async def publish_many(self, events: Sequence[Event]) -> None:
        self.count += len(events)
