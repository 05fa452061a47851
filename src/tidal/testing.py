"""Test helpers for users and for tidal's own suite: run handlers with no server at all.

`ManualClock` runs retries in virtual time; `make_event` builds events tersely; `MemoryBroker`
and `MemoryIdempotencyStore` are the in-memory ports.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal.events import Event
from tidal.idempotency import MemoryIdempotencyStore
from tidal.transports.memory import MemoryBroker

__all__ = ["ManualClock", "MemoryBroker", "MemoryIdempotencyStore", "make_event"]


class ManualClock:
    """A clock that moves only when told to, or by exactly what `sleep` asks (``auto_advance``).

    ``sleeps`` records every requested sleep, so tests can assert backoff delays.
    """

    def __init__(self, start: datetime | None = None, *, auto_advance: bool = True) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0
        self.auto_advance = auto_advance
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.auto_advance:
            self.advance(seconds)
        await asyncio.sleep(0)  # still let other tasks run, as a real sleep would


def make_event(
    type: str = "com.example.test.v1",
    *,
    source: str = "/tests",
    data: Any = None,
    **attributes: Any,
) -> Event:
    """An event with sensible defaults; any attribute or extension may be given."""
    return Event.create(type=type, source=source, data=data, **attributes)
