"""The in-process transport: publish fans out to every matching subscription of every app.

Same semantics as the real transports (retries per policy on the dispatcher's clock, dead letters,
emitted events published back in), in one process. `tidal dev` and `tidal.testing` use it. Its
counts are registered with `tidal.observability` (transport ``memory``); with tracing on, each
delivery is a receive span continuing the trace in the event's ``traceparent``.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

from tidal.app import App, Subscription
from tidal.clock import Clock, SystemClock
from tidal.dispatching import Dispatcher, Failed, Watch
from tidal.events import Event
from tidal.idempotency import Idempotency
from tidal.observability import Source, hooks, register
from tidal.stats import Stats

DEFAULT_SINK: Final = "dead-letters"


class MemoryBroker:
    """A broker in memory: `publish` events, `drain` until every delivery has ended."""

    def __init__(
        self,
        apps: App | Iterable[App],
        *,
        idempotency: Idempotency | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_in_flight: int = 256,
        service: str | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.watch = watch  # sees every attempt's outcome (`tidal dev` prints retries)
        self.clock = clock or SystemClock()
        self.stats = Stats()
        apps = [apps] if isinstance(apps, App) else list(apps)
        service = service or (apps[0].name if len(apps) == 1 else "memory")
        register(self, Source(service=service, transport="memory", stats=self.stats))
        self.dispatchers = [
            Dispatcher(app, idempotency=idempotency, clock=self.clock, rng=rng, stats=self.stats)
            for app in apps
        ]
        self.published: list[Event] = []
        self.dead_letters: defaultdict[str, list[Event]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_in_flight)

    async def publish(self, event: Event) -> int:
        """Start delivering ``event``; returns how many subscriptions it goes to."""
        self.published.append(event)
        targets = 0
        for dispatcher in self.dispatchers:
            for sub in dispatcher.app.subscriptions:
                if sub.matches(event):
                    targets += 1
                    self._start(dispatcher, sub, event)
                else:
                    self.stats.bump(sub.name, "filtered", event_type=event.type)
        return targets

    async def publish_many(self, events: Sequence[Event]) -> None:
        for event in events:
            await self.publish(event)

    def _start(self, dispatcher: Dispatcher, sub: Subscription, event: Event) -> None:
        self.stats.bump(sub.name, "received", event_type=event.type)
        # a fresh context: a delivery continues the event's trace, not the publisher's span
        task = asyncio.create_task(
            self._deliver(dispatcher, sub, event), context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, dispatcher: Dispatcher, sub: Subscription, event: Event) -> None:
        async with self._slots:
            tracer = hooks.tracer
            if tracer is None:
                outcome = await dispatcher.deliver(
                    sub, event, emit=self.publish_many, watch=self.watch
                )
            else:
                with tracer.receive(event, transport="memory"):
                    outcome = await dispatcher.deliver(
                        sub, event, emit=self.publish_many, watch=self.watch
                    )
        if isinstance(outcome, Failed):
            self.dead_letters[sub.policy.dead_letter or DEFAULT_SINK].append(outcome.letter)
            self.stats.bump(sub.name, "dead_lettered", event_type=event.type)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until no delivery is running (deliveries may start new ones: loop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def close(self) -> None:
        """Cancel what is still running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def all_dead_letters(self) -> list[Event]:
        return [letter for letters in self.dead_letters.values() for letter in letters]
