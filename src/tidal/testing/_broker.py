"""`MemoryBroker` for tests: the memory transport with idempotency on and assertions.

Users import it from `tidal.testing` (the ``tidal_broker`` fixture builds one); tidal's own suite
does too. Besides what the transport keeps (``published``, ``dead_letters``, ``stats``) it
records every attempt (``attempts``), and its ``assert_*`` methods find an event or fail with
the list of what did happen.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tidal._app import App, Subscription
from tidal._clock import Clock
from tidal._events import Event
from tidal._idempotency.guard import Idempotency
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal._lifecycle import Service
from tidal._outcomes import Handled, Outcome, Paused, Retry
from tidal._transports.memory import MemoryBroker as _MemoryTransport


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One attempt of ``event`` on ``subscription``: ``outcome`` is ``handled``, ``duplicate``,
    ``retried``, ``paused`` (a dependency down: not counted) or ``failed``; ``error`` what the
    handler (or the dependency) raised."""

    subscription: str
    event: Event
    attempt: int
    outcome: str
    error: BaseException | None = None


class MemoryBroker(_MemoryTransport, Service):
    """The memory transport for tests: `publish` (or `send`: publish and drain), then assert.

    ``idempotency``: True (default) guards every idempotent subscription with an in-memory store
    on the broker's clock, as `tidal run` does by default; False turns it off; an `Idempotency`
    is used as given. ``clock``: a `ManualClock` makes retries instant and their delays visible.
    """

    def __init__(
        self,
        apps: App | Iterable[App],
        *,
        idempotency: Idempotency | bool = True,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_in_flight: int = 256,
        service: str | None = None,
    ) -> None:
        if idempotency is True:
            guard: Idempotency | None = Idempotency(
                MemoryIdempotencyStore(clock=clock), clock=clock
            )
        else:
            guard = idempotency or None
        super().__init__(
            apps,
            idempotency=guard,
            clock=clock,
            rng=rng,
            max_in_flight=max_in_flight,
            service=service,
        )
        self.attempts: list[Delivery] = []
        for pipeline in self.pipelines:
            pipeline.on_attempt(self._record)

    def _record(self, sub: Subscription, event: Event, attempt: int, outcome: Outcome) -> None:
        self.attempts.append(_delivery(sub, event, attempt, outcome))

    async def send(self, event: Event) -> int:
        """Publish ``event`` and wait until it and everything it caused are delivered."""
        targets = await self.publish(event)
        await self.drain()
        return targets

    # -- what happened -------------------------------------------------------------------

    def handled(self, subscription: str | None = None) -> list[Event]:
        """Events a handler succeeded on (``subscription``: of that one), in order."""
        return [d.event for d in self._of(subscription) if d.outcome == "handled"]

    def retried(self, subscription: str | None = None) -> list[Delivery]:
        """Attempts that failed and were retried."""
        return [d for d in self._of(subscription) if d.outcome == "retried"]

    def _of(self, subscription: str | None) -> list[Delivery]:
        return [d for d in self.attempts if subscription in (None, d.subscription)]

    # -- assertions ------------------------------------------------------------------------

    def assert_published(self, type: str | None = None, **attributes: Any) -> Event:
        """The one published event (handlers' emitted ones included) of ``type`` with
        ``attributes`` (``data=`` compares the data); fails listing what was published."""
        return _one("published", self.published, type, attributes)

    def assert_not_published(self, type: str | None = None, **attributes: Any) -> None:
        found = _matching(self.published, type, attributes)
        assert not found, f"expected no published event like {_wanted(type, attributes)}: {found}"

    def assert_dead_lettered(
        self, type: str | None = None, *, error: str | None = None, **attributes: Any
    ) -> Event:
        """The one dead letter of ``type`` (``error``: its ``tidalerrorclass``); the letter is
        the original event plus ``tidalerrorclass``, ``tidalerrormessage``, ``tidalattempts``..."""
        if error is not None:
            attributes["tidalerrorclass"] = error
        return _one("dead-lettered", self.all_dead_letters(), type, attributes)

    def assert_retried(
        self, subscription: str | None = None, *, times: int | None = None
    ) -> list[Delivery]:
        """The retried attempts (of ``subscription``): at least one, or exactly ``times``."""
        retried = self.retried(subscription)
        where = f" on {subscription}" if subscription else ""
        if times is None:
            assert retried, f"expected a retry{where}; attempts: {self._summary()}"
        else:
            assert len(retried) == times, (
                f"expected {times} retries{where}, got {len(retried)}; attempts: {self._summary()}"
            )
        return retried

    def assert_handled(self, subscription: str, *, times: int | None = None) -> list[Event]:
        """Events ``subscription``'s handler succeeded on: at least one, or exactly ``times``."""
        events = self.handled(subscription)
        count = len(events)
        assert count if times is None else count == times, (
            f"expected {subscription} to handle {'an event' if times is None else times}, "
            f"it handled {count}; attempts: {self._summary()}"
        )
        return events

    def _summary(self) -> list[str]:
        return [f"{d.subscription}#{d.attempt} {d.event.type}: {d.outcome}" for d in self.attempts]

    async def start(self) -> None:
        """Nothing to start: deliveries run as tasks of the caller's loop."""

    async def stop(self) -> None:
        """`close` (what leaving ``async with`` awaits)."""
        await self.close()


def _delivery(sub: Subscription, event: Event, attempt: int, outcome: Outcome) -> Delivery:
    if isinstance(outcome, Handled):
        name = "duplicate" if outcome.duplicate else "handled"
        return Delivery(subscription=sub.name, event=event, attempt=attempt, outcome=name)
    name = (
        "retried"
        if isinstance(outcome, Retry)
        else "paused"
        if isinstance(outcome, Paused)
        else "failed"
    )
    return Delivery(
        subscription=sub.name, event=event, attempt=attempt, outcome=name, error=outcome.error
    )


def _matching(events: list[Event], type: str | None, attributes: dict[str, Any]) -> list[Event]:
    def matches(event: Event) -> bool:
        if type is not None and event.type != type:
            return False
        for name, wanted in attributes.items():
            actual = event.data if name == "data" else event.get_attributes().get(name)
            if actual != wanted:
                return False
        return True

    return [event for event in events if matches(event)]


def _one(what: str, events: list[Event], type: str | None, attributes: dict[str, Any]) -> Event:
    found = _matching(events, type, attributes)
    seen = [f"{e.type} (id {e.id})" for e in events]
    assert found, f"no {what} event like {_wanted(type, attributes)}; {what}: {seen}"
    assert len(found) == 1, f"{len(found)} {what} events like {_wanted(type, attributes)}: {seen}"
    return found[0]


def _wanted(type: str | None, attributes: dict[str, Any]) -> str:
    parts = ([f"type={type!r}"] if type else []) + [f"{k}={v!r}" for k, v in attributes.items()]
    return ", ".join(parts) or "any"
