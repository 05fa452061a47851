"""Test helpers for users and for tidal's own suite: run handlers with no server at all.

`MemoryBroker` delivers like the real transports, in memory, with idempotency on and assertions
on what was published, dead-lettered, retried and handled (`tidal.testing._broker`);
`ManualClock` runs retries in virtual time; `make_event` builds events tersely; `make_context`
builds the `Context` a handler takes, to call it directly. The pytest plugin
(`tidal.testing._plugin`, registered as ``tidal`` in the ``pytest11`` entry points) provides
the ``tidal_broker``, ``tidal_clock`` and ``tidal_context`` fixtures and runs ``async def`` tests
without any asyncio configuration. See docs/testing.md.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal._clock import Clock
from tidal._context import Context
from tidal._events import Event
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal.testing._broker import Delivery, MemoryBroker

__all__ = [
    "Delivery",
    "ManualClock",
    "MemoryBroker",
    "MemoryIdempotencyStore",
    "make_context",
    "make_event",
]


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


def make_context(
    event: Event | None = None,
    *,
    attempt: int = 1,
    subscription: str = "test",
    service: str = "test",
    timeout: float | None = None,
    clock: Clock | None = None,
) -> Context:
    """The `Context` the dispatcher would pass with ``event`` (default: `make_event()`), to call
    a handler directly; what it emits is in ``ctx.emitted``, its ``ctx.logger`` logs to
    ``tidal.app.<service>``."""
    clock = clock or ManualClock()
    return Context(
        event=event or make_event(),
        subscription=subscription,
        service=service,
        attempt=attempt,
        timeout=timeout,
        clock=clock,
        started=clock.monotonic(),
        base_logger=logging.getLogger(f"tidal.app.{service}"),
    )
