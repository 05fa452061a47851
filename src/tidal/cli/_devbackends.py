"""Where a `tidal dev` run's events go: the `Backend` protocol and the memory backend.

`MemoryBackend` is the embedded default (one `MemoryBroker` for every App, idempotency in
memory, real retries on the wall clock); its ``watch`` hook (`tidal.cli._devwatch.Activity`)
shows each retry and dead letter as it happens. `tidal.cli._devkafka.KafkaBackend` is the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tidal._app import App
from tidal._dispatching import Watch
from tidal._events import Event
from tidal._idempotency.guard import Idempotency
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal._stats import Stats
from tidal._transports.memory import MemoryBroker


class Backend(Protocol):
    """What `tidal.cli._devrun` needs of a broker side."""

    @property
    def stats(self) -> Stats: ...

    @property
    def published(self) -> int: ...

    async def start(self) -> None:
        """Connect and join; cancelled (Ctrl-C meanwhile), close what it opened."""
        ...

    async def publish(self, event: Event) -> None: ...

    async def publish_many(self, events: Sequence[Event]) -> None: ...

    async def drain(self) -> None: ...

    async def close(self) -> None: ...

    def dead_lettered(self) -> int: ...

    async def dead_letters(self, limit: int = 5) -> list[Event]: ...


class MemoryBackend:
    """The embedded default: one `MemoryBroker` for every App, idempotency in memory."""

    label = "the memory transport"

    def __init__(self, apps: Sequence[App], *, watch: Watch | None = None) -> None:
        idempotency = Idempotency(MemoryIdempotencyStore())
        self.broker = MemoryBroker(list(apps), idempotency=idempotency, watch=watch)

    @property
    def stats(self) -> Stats:
        return self.broker.stats

    @property
    def published(self) -> int:
        return len(self.broker.published)

    async def start(self) -> None:
        return None

    async def publish(self, event: Event) -> None:
        await self.broker.publish(event)

    async def publish_many(self, events: Sequence[Event]) -> None:
        await self.broker.publish_many(events)

    async def drain(self) -> None:
        await self.broker.drain()

    async def close(self) -> None:
        await self.broker.close()

    def dead_lettered(self) -> int:
        return len(self.broker.all_dead_letters())

    async def dead_letters(self, limit: int = 5) -> list[Event]:
        return self.broker.all_dead_letters()[:limit]
