"""The delivery core every transport shares: match, count, attempt, then route the outcome.

A transport decodes what it carries into events and hands them here with its `Route` (its
acknowledgement and routing callbacks); the rest is the same for HTTP, Kafka and memory:

1. `targets` / `admit`: match each subscription's filters, count ``received`` or ``filtered``;
2. `receive`: with a tracer installed, a receive span around the event's deliveries when it is
   sampled (built in only then: the untraced path has no tracing branch; an unsampled event
   goes straight to its deliveries);
3. `deliver`: `tidal._dispatching.Dispatcher.attempt` through the subscription's stages, then the
   outcome to the route: `Retry` to ``retry``, `Failed` to ``dead_letter`` (counted
   ``dead_lettered`` once the route has sent it; a route that leaves it to its broker counts
   ``failed`` itself: one outcome per attempt; either way the idempotency record then says the
   delivery ended, `tidal._dispatching.Dispatcher.dead_lettered`), `Paused` to ``paused`` (a
   dependency is down: no attempt is used up); a callback that answers True has waited, and
   the core tries again here (the memory transport's retries, Kafka's pause).

What each transport routes: HTTP answers one status for the request (the Broker retries and
dead-letters, `tidal._transports.http.asgi`); Kafka produces to the retry or dead-letter topic
and commits, or holds the record while paused (`tidal._transports.kafka.handling`); memory waits
on its clock and tries again, dead letters go to a list (`tidal._transports.memory`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from tidal._app import Subscription
from tidal._dispatching import Dispatcher, Emit
from tidal._events import Event
from tidal._outcomes import Failed, Handled, Outcome, Paused, Retry
from tidal._stages import discard
from tidal.observability import _hooks as hooks

At = TypeVar("At", contravariant=True)
Delivered = list[tuple[Subscription, Outcome]]
Observer = Callable[[Subscription, Event, int, Outcome], None]
"""Told of every attempt: subscription, event, attempt number, outcome (`Pipeline.on_attempt`)."""


class Route(Protocol[At]):
    """A transport's callbacks for the outcomes it finishes (``at``: its handle on the event,
    e.g. the Kafka record). True from ``retry`` / ``paused``: it has waited, try again here."""

    async def retry(self, at: At, sub: Subscription, event: Event, outcome: Retry) -> bool:
        """``event`` failed and may succeed later (attempt ``outcome``'s, not yet exhausted)."""
        ...

    async def dead_letter(self, at: At, sub: Subscription, event: Event, outcome: Failed) -> bool:
        """Send ``outcome.letter`` to its sink; True once it is there (counted dead-lettered)."""
        ...

    async def paused(self, at: At, sub: Subscription, event: Event, outcome: Paused) -> bool:
        """A dependency is down: hold intake, wait ``outcome.delay``; True to try again here."""
        ...


class Receive(Protocol):
    """`Pipeline.receive`: deliver ``event`` to ``subs`` (``carrier``: the transport's own
    headers, for the receive span)."""

    def __call__(
        self,
        route: Route[Any],
        at: Any,
        event: Event,
        subs: Sequence[Subscription],
        carrier: Mapping[str, str] | None = None,
    ) -> Awaitable[Delivered]: ...


class _Broker:
    """The route of a transport whose broker finishes every outcome (Knative: the status
    tells it): nothing is tried again or dead-lettered here."""

    async def retry(self, at: object, sub: Subscription, event: Event, outcome: Retry) -> bool:
        return False

    async def paused(self, at: object, sub: Subscription, event: Event, outcome: Paused) -> bool:
        return False

    async def dead_letter(
        self, at: object, sub: Subscription, event: Event, outcome: Failed
    ) -> bool:
        return False


BROKER: Final = _Broker()


class Pipeline:
    """One app's delivery core under one transport (``transport`` names it in receive spans).

    ``emit`` takes the events handlers return; ``broker_retries``: a broker counts attempts and
    retries (Knative), so a retryable failure is never final here."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        transport: str,
        emit: Emit | None = None,
        broker_retries: bool = False,
    ) -> None:
        self.dispatcher = dispatcher
        self.stats = dispatcher.stats
        self.transport = transport
        self.emit = emit or discard
        self.broker_retries = broker_retries
        self.receive: Receive = self._receive
        self._attempt = dispatcher.run  # positional: the hot path
        hooks.watch(self)

    def tracer_installed(self, tracer: hooks.Tracer | None) -> None:
        """`receive` with a receive span when a tracer is installed, without one otherwise."""
        if tracer is None:
            self.receive = self._receive
            return
        transport, plain = self.transport, self._receive

        def traced(
            route: Route[At],
            at: At,
            event: Event,
            subs: Sequence[Subscription],
            carrier: Mapping[str, str] | None = None,
        ) -> Awaitable[Delivered]:
            span = tracer.receive(event, transport=transport, carrier=carrier)
            if span is None:  # unsampled, nothing to mark: no frame of its own either
                return plain(route, at, event, subs)
            return _within(span, plain, route, at, event, subs)

        self.receive = traced

    def on_attempt(self, observer: Observer) -> None:
        """Call ``observer`` after every attempt, with its outcome: a stage around the attempt,
        present only once asked for (`tidal.testing.MemoryBroker` records attempts with it)."""
        inner = self._attempt

        async def observed(
            sub: Subscription,
            event: Event,
            attempt: int,
            first_failure: datetime | None,
            emit: Emit | None,
            broker_retries: bool,
        ) -> Outcome:
            outcome = await inner(sub, event, attempt, first_failure, emit, broker_retries)
            observer(sub, event, attempt, outcome)
            return outcome

        self._attempt = observed

    def admit(self, sub: Subscription, event: Event) -> bool:
        """Whether ``sub`` wants ``event``, counted received or filtered; raises what the
        filter raises when it cannot judge the event."""
        return self.counted(sub, event, sub.matches(event))

    def counted(self, sub: Subscription, event: Event, wanted: bool) -> bool:
        """Count ``event`` received by ``sub`` (``wanted``) or filtered out; returns ``wanted``."""
        self.stats.bump(sub.name, "received" if wanted else "filtered", event_type=event.type)
        return wanted

    def targets(self, event: Event, only: Subscription | None = None) -> list[Subscription]:
        """The subscriptions (all, or ``only``) that want ``event``, each counted."""
        subs = self.dispatcher.app.subscriptions if only is None else (only,)
        bump, event_type, wanted = self.stats.bump, event.type, []
        for sub in subs:  # `admit`, inline: this runs for every event
            if sub.matches(event):
                bump(sub.name, "received", event_type=event_type)
                wanted.append(sub)
            else:
                bump(sub.name, "filtered", event_type=event_type)
        return wanted

    async def _receive(
        self,
        route: Route[At],
        at: At,
        event: Event,
        subs: Sequence[Subscription],
        carrier: Mapping[str, str] | None = None,
    ) -> Delivered:
        """`deliver` ``event`` to each of ``subs`` (admitted already), in turn."""
        delivered: Delivered = []
        emit, broker_retries = self.emit, self.broker_retries
        for sub in subs:  # `deliver`, inline: this runs for every event
            outcome = await self._attempt(sub, event, 1, None, emit, broker_retries)
            if not isinstance(outcome, Handled):
                outcome = await self._route(route, at, sub, event, outcome, 1, None)
            delivered.append((sub, outcome))
        return delivered

    async def deliver(
        self,
        route: Route[At],
        at: At,
        sub: Subscription,
        event: Event,
        *,
        attempt: int = 1,
        first_failure: datetime | None = None,
    ) -> Outcome:
        """Attempt ``event`` on ``sub`` and route the outcome, trying again while the route
        asks to; returns the last outcome."""
        outcome = await self._attempt(
            sub, event, attempt, first_failure, self.emit, self.broker_retries
        )
        if isinstance(outcome, Handled):
            return outcome
        return await self._route(route, at, sub, event, outcome, attempt, first_failure)

    async def _route(
        self,
        route: Route[At],
        at: At,
        sub: Subscription,
        event: Event,
        outcome: Outcome,
        attempt: int,
        first_failure: datetime | None,
    ) -> Outcome:
        """Hand ``outcome`` to the route; while it asks, attempt again."""
        while not isinstance(outcome, Handled):
            if isinstance(outcome, Paused):
                if not await route.paused(at, sub, event, outcome):
                    return outcome
            elif isinstance(outcome, Retry):
                if not await route.retry(at, sub, event, outcome):
                    return outcome
                first_failure = first_failure or outcome.failed_at
                attempt = outcome.attempt + 1  # after the one the store counted, if it did
            else:
                if await route.dead_letter(at, sub, event, outcome):
                    self.dead_lettered(sub, event)
                # the delivery is over: its record says so, and a redelivered copy is a duplicate
                await self.dispatcher.dead_lettered(sub, event)
                return outcome
            outcome = await self._attempt(
                sub, event, attempt, first_failure, self.emit, self.broker_retries
            )
        return outcome

    def failed(self, sub: Subscription, event: Event) -> None:
        """Count an attempt that ended the delivery without tidal sending a dead letter (the
        broker dead-letters it: Knative's 422)."""
        self.stats.bump(sub.name, "failed", event_type=event.type)

    def dead_lettered(self, sub: Subscription, event: Event | None = None) -> None:
        """Count a dead letter its sink has taken (``event`` None: the record was no event)."""
        self.stats.bump(sub.name, "dead_lettered", event_type=None if event is None else event.type)


async def _within(
    span: AbstractContextManager[object],
    deliver: Callable[[Route[At], At, Event, Sequence[Subscription]], Awaitable[Delivered]],
    route: Route[At],
    at: At,
    event: Event,
    subs: Sequence[Subscription],
) -> Delivered:
    """``deliver`` inside ``span`` (a receive span, or the mark of an unsampled trace)."""
    with span:
        return await deliver(route, at, event, subs)
