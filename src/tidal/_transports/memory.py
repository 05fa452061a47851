"""The in-process transport: publish fans out to every matching subscription of every app.

Same semantics as the real transports, in one process, on the shared core
(`tidal._pipeline.Pipeline`): this module only routes. A retry waits on the broker's clock and is
tried again here, a paused attempt (a dependency down) likewise without counting, emitted events
are published back in, and dead letters land in ``dead_letters[sink]``. `tidal dev` and
`tidal.testing` use it. Its counts are registered with `tidal.observability` (transport
``memory``); with tracing on, each delivery is a receive span continuing the trace in the
event's ``traceparent``.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

from tidal._app import App, Subscription
from tidal._clock import Clock, SystemClock
from tidal._dispatching import Dispatcher, Watch
from tidal._events import Event
from tidal._idempotency.guard import Idempotency
from tidal._outcomes import Failed, Paused, Retry
from tidal._pipeline import Pipeline
from tidal._stats import Stats
from tidal.observability import Source, register

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
        self.pipelines = [
            Pipeline(d, transport="memory", emit=self.publish_many) for d in self.dispatchers
        ]
        if watch is not None:
            for pipeline in self.pipelines:
                pipeline.on_attempt(lambda sub, event, n, outcome: watch(sub, event, outcome, n))
        self.published: list[Event] = []
        self.dead_letters: defaultdict[str, list[Event]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_in_flight)

    async def publish(self, event: Event) -> int:
        """Start delivering ``event``; returns how many subscriptions it goes to."""
        self.published.append(event)
        targets = 0
        for pipeline in self.pipelines:
            for sub in pipeline.targets(event):
                targets += 1
                # a fresh context: a delivery continues the event's trace, not the publisher's
                task = asyncio.create_task(
                    self._deliver(pipeline, sub, event), context=contextvars.Context()
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return targets

    async def publish_many(self, events: Sequence[Event]) -> None:
        for event in events:
            await self.publish(event)

    async def _deliver(self, pipeline: Pipeline, sub: Subscription, event: Event) -> None:
        async with self._slots:
            await pipeline.receive(self, None, event, (sub,))

    # -- the route (`tidal._pipeline.Route`) -------------------------------------------------

    async def retry(self, at: None, sub: Subscription, event: Event, outcome: Retry) -> bool:
        await self.clock.sleep(outcome.delay)
        return True

    async def paused(self, at: None, sub: Subscription, event: Event, outcome: Paused) -> bool:
        await self.clock.sleep(outcome.delay)
        return True

    async def dead_letter(self, at: None, sub: Subscription, event: Event, outcome: Failed) -> bool:
        self.dead_letters[sub.policy.dead_letter or DEFAULT_SINK].append(outcome.letter)
        return True

    # -- draining ---------------------------------------------------------------------------

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
