"""One attempt of one event on one subscription: its stages, the handler, the classification.

`tidal._pipeline.Pipeline` (every transport's core) calls `Dispatcher.attempt` for each try;
tests and the orders service call `Dispatcher.deliver` (tries until handled or failed, waiting on
the dispatcher's clock). The attempt runs the subscription's stage chain (`tidal._stages`: age,
idempotency, tracing, each only where it applies, built once and rebuilt when the tracer
changes), and every exception is classified into an outcome (`tidal._outcomes`): `Retry`,
`Failed`, or `Paused` when a dependency is down. Emission of the handler's events happens inside
the attempt, before the idempotency record is completed, so an event counts as handled only
once what it produced has been sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from tidal._app import App, Subscription
from tidal._clock import Clock, SystemClock
from tidal._context import Context
from tidal._deadletters import Failure, dead_letter
from tidal._errors import (
    DependencyUnavailableError,
    HandlerTimeoutError,
    PermanentError,
    RetryableError,
)
from tidal._events import Event
from tidal._idempotency.copies import is_rerun
from tidal._idempotency.guard import Claim, Idempotency
from tidal._outcomes import PAUSE, Failed, Handled, Outcome, Paused, Retry
from tidal._pools import SyncPools
from tidal._stages import (
    Claimed,
    Step,
    Try,
    aged,
    discard,
    event_key,
    handling,
    idempotent,
    traced,
)
from tidal._stats import Stats
from tidal._timeouts import Watchdog
from tidal.observability import _hooks as hooks
from tidal.observability import _logs as logs

__all__ = ["Dispatcher", "Emit", "Failed", "Handled", "Outcome", "Paused", "Retry"]

Emit = Callable[[Sequence[Event]], Awaitable[None]]
Watch = Callable[[Subscription, Event, Outcome, int], None]  # each attempt's outcome, number

log = logging.getLogger("tidal.dispatch")
INFINITE = float("inf")
PAUSE_LOG_EVERY = 10.0  # seconds between warnings while a dependency stays down


class Dispatcher:
    """Runs an App's handlers under their delivery policies, through each subscription's
    stages (`tidal._stages`), built here and rebuilt when the tracer changes."""

    def __init__(
        self,
        app: App,
        *,
        idempotency: Idempotency | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.app = app
        self.idempotency = idempotency
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.stats = stats or Stats()
        self._logger = logging.getLogger(f"tidal.app.{app.name}")
        self._watchdog = Watchdog()
        self._threads = SyncPools(gauge=self.stats.hung)  # sync handlers: bounded, hung counted
        self._tracer: hooks.Tracer | None = None
        self._chains: dict[str, Step] = {}
        self._claimed: Claimed = {}
        self._paused_logged = -PAUSE_LOG_EVERY
        hooks.watch(self)

    def tracer_installed(self, tracer: hooks.Tracer | None) -> None:
        """Build every subscription's stages for ``tracer`` (None: no tracing stage)."""
        self._tracer = tracer
        self._chains = {sub.name: self._chain(sub) for sub in self.app.subscriptions}

    def _chain(self, sub: Subscription) -> Step:
        tracer = self._tracer
        step = handling(self._call, stamp=None if tracer is None else tracer.stamp)
        if self.idempotency is not None and sub.idempotent:
            step = idempotent(step, self.idempotency, self.key_prefix(sub), self._claimed)
        if sub.policy.max_age is not None:
            step = aged(step, max_age=sub.policy.max_age, now=self.clock.now, release=self.release)
        if tracer is not None:
            step = traced(step, tracer, subscription=sub.name)
        return step

    def key(self, sub: Subscription, event: Event) -> str:
        """The idempotency key: per app and subscription, so fan-out targets are independent."""
        return event_key(self.key_prefix(sub), event)

    def key_prefix(self, sub: Subscription) -> str:
        """What every idempotency key on ``sub`` starts with (`key`): its `idempotent` stage
        builds it once, not per event."""
        return f"tidal:{self.app.name}:{sub.name}:"

    def guards(self, sub: Subscription) -> bool:
        """Whether attempts on ``sub`` go through the idempotency guard."""
        return self.idempotency is not None and sub.idempotent

    async def claim_many(self, sub: Subscription, events: Sequence[Event]) -> list[Claim]:
        """The batch claim step: acquire the idempotency keys of ``events`` on ``sub`` at once
        (one store call). Each claim is parked for its event until the event's attempt reaches
        its idempotency stage; one whose attempt will not run is given back with `release`.
        Raises what the store raises (nothing is claimed)."""
        if self.idempotency is None or not sub.idempotent or not events:
            return []
        digest = self.idempotency.digest
        items = [(self.key(sub, event), digest(event), is_rerun(event)) for event in events]
        claims = await self.idempotency.claim_many(items)
        for event, claim in zip(events, claims, strict=True):
            self._claimed.setdefault((sub.name, id(event)), claim)
        return claims

    async def dead_lettered(self, sub: Subscription, event: Event) -> None:
        """Record in the idempotency store that ``event``'s delivery on ``sub`` ended in a dead
        letter (`tidal._pipeline.Pipeline` calls it once the route has sent it, or left it to
        the broker), so a redelivered copy (a Kafka worker killed before committing, a source
        whose acknowledgement was lost) is a duplicate, not a second dead letter; a run's copy
        (`tidal._idempotency.copies.is_rerun`: re-drive, replay, restore) runs again."""
        if self.idempotency is not None and sub.idempotent:
            await self.idempotency.dead_lettered(self.key(sub, event))

    async def release(self, sub: Subscription, event: Event) -> None:
        """Give back the key `claim_many` acquired for ``event`` on ``sub``, whose attempt
        will not run."""
        claim = self._claimed.pop((sub.name, id(event)), None)
        if claim is not None and self.idempotency is not None:
            await self.idempotency.release(claim)

    async def attempt(
        self,
        sub: Subscription,
        event: Event,
        *,
        attempt: int = 1,
        first_failure: datetime | None = None,
        emit: Emit | None = None,
        broker_retries: bool = False,
    ) -> Outcome:
        """One try of ``event`` on ``sub``; ``emit`` sends what the handler produced.

        With ``broker_retries`` (Knative) the broker counts attempts, so a retryable failure is
        never final here. An event `claim_many` claimed starts from its claim.
        """
        return await self.run(sub, event, attempt, first_failure, emit, broker_retries)

    async def run(
        self,
        sub: Subscription,
        event: Event,
        attempt: int,
        first_failure: datetime | None,
        emit: Emit | None,
        broker_retries: bool,
    ) -> Outcome:
        """`attempt` with every argument positional (`tidal._pipeline.Pipeline` calls it per
        event: keyword arguments cost more)."""
        stats, started, name = self.stats, time.monotonic(), sub.name
        chain = self._chains.get(name) or self._late(sub)
        stats.in_flight[name] += 1
        step = Try(sub, event, attempt, emit or discard, False, broker_retries)
        try:
            handled = await chain(step)
        except asyncio.CancelledError:
            raise
        except DependencyUnavailableError as exc:  # no attempt used up: the transport waits
            stats.bump(name, "paused", event_type=event.type)
            return self._paused(sub, exc)
        except Exception as exc:  # every failure is classified, none escapes
            attempt = step.attempt  # as the idempotency store counted it, where it does
            final = not broker_retries and sub.policy.exhausted(attempt)
            return self._failed_attempt(
                sub, event, exc, attempt, first_failure, final=final, broker=broker_retries
            )
        finally:
            stats.in_flight[name] -= 1
            stats.observe(name, event.type, time.monotonic() - started)
        stats.bump(name, "duplicate" if handled.duplicate else "handled", event_type=event.type)
        return handled

    def _late(self, sub: Subscription) -> Step:
        """The chain of a subscription added to the app after this dispatcher was built."""
        chain = self._chains[sub.name] = self._chain(sub)
        return chain

    async def deliver(
        self,
        sub: Subscription,
        event: Event,
        *,
        emit: Emit = discard,
        attempt: int = 1,
        first_failure: datetime | None = None,
        watch: Watch | None = None,
    ) -> Handled | Failed:
        """Try until handled or failed, sleeping on this dispatcher's clock between tries (and
        while a dependency is down, without counting those tries); ``watch`` sees every
        attempt's outcome (`tidal dev` shows retries as they happen)."""
        while True:
            outcome = await self.attempt(
                sub, event, attempt=attempt, first_failure=first_failure, emit=emit
            )
            if watch is not None:
                watch(sub, event, outcome, attempt)
            if isinstance(outcome, Handled | Failed):
                return outcome
            await self.clock.sleep(outcome.delay)
            if isinstance(outcome, Retry):
                first_failure = first_failure or outcome.failed_at
                attempt = outcome.attempt + 1

    def _paused(self, sub: Subscription, exc: DependencyUnavailableError) -> Paused:
        delay = PAUSE if exc.delay is None else exc.delay
        now = self.clock.monotonic()
        if now - self._paused_logged >= PAUSE_LOG_EVERY:
            self._paused_logged = now
            log.warning("pausing %s for %.1fs, a dependency is down: %r", sub.name, delay, exc)
        return Paused(error=exc, delay=delay)

    async def _call(
        self, sub: Subscription, event: Event, attempt: int, forwarding: bool
    ) -> list[Event]:
        """The handler's events; ``forwarding``: an unsampled attempt (no span), whose events
        and ``ctx.logger`` lines carry the trace ``event`` forwards."""
        timeout = sub.policy.timeout
        ctx = self._context(sub, event, attempt, timeout, forwarding) if sub.wants_context else None
        args: tuple[Any, ...] = (event,) if ctx is None else (event, ctx)
        try:
            with self._watchdog.scope(INFINITE if timeout is None else timeout):
                if sub.is_async:
                    result = await sub.handler(*args)  # type: ignore[misc]
                else:
                    result = await self._threads.run(sub.name, sub.handler, *args)
        except TimeoutError as exc:
            raise HandlerTimeoutError(f"attempt {attempt} timed out after {timeout:g}s") from exc
        produced = _normalise(result, sub.name)
        if ctx is not None:
            produced = [*produced, *ctx.emitted]
        return produced

    def _context(
        self, sub: Subscription, event: Event, attempt: int, timeout: float | None, forwarding: bool
    ) -> Context:
        tracer = self._tracer
        return Context(
            trace_ids=tracer.ids_for if forwarding and tracer is not None else None,
            event=event,
            subscription=sub.name,
            service=self.app.name,
            attempt=attempt,
            timeout=timeout,
            clock=self.clock,
            started=self.clock.monotonic(),
            base_logger=self._logger,
        )

    def _failed_attempt(
        self,
        sub: Subscription,
        event: Event,
        exc: Exception,
        attempt: int,
        first_failure: datetime | None,
        *,
        final: bool,
        broker: bool = False,
    ) -> Retry | Failed:
        now = self.clock.now()
        if not isinstance(exc, PermanentError) and not final:
            self.stats.bump(sub.name, "retried", event_type=event.type)
            delay = exc.delay if isinstance(exc, RetryableError) and exc.delay is not None else None
            wait = sub.policy.delay(attempt, rng=self.rng) if delay is None else delay
            fields = logs.event_fields(event, subscription=sub.name, attempt=attempt)
            if broker:  # Knative: the Broker retries per its Trigger's delivery, if at all
                log.info(
                    "failed %s on %s; answered retryable, the broker retries it: %r",
                    event.id,
                    sub.name,
                    exc,
                    exc_info=exc,  # the broker does not say which attempt this is: every time
                    extra=fields,
                )
                return Retry(error=exc, delay=wait, failed_at=now, attempt=attempt)
            log.info(  # the traceback once, at an event's first failure
                "retrying %s on %s in %.3fs: %r",
                event.id,
                sub.name,
                wait,
                exc,
                exc_info=exc if attempt == 1 else None,
                extra=fields,
            )
            return Retry(error=exc, delay=wait, failed_at=now, attempt=attempt)
        # counted where the delivery ends: ``dead_lettered`` once tidal sent the letter, else
        # ``failed`` (the transport's broker dead-letters it: `tidal._pipeline.Pipeline.failed`)
        log.warning(
            "giving up on %s in %s after %d attempt(s): %r",
            event.id,
            sub.name,
            attempt,
            exc,
            exc_info=exc,
            extra=logs.event_fields(event, subscription=sub.name, attempt=attempt),
        )
        failure = Failure.from_exception(
            exc,
            attempts=attempt,
            first_failure=first_failure or now,
            last_failure=now,
            subscriber=f"{self.app.name}/{sub.name}",
        )
        return Failed(error=exc, failure=failure, letter=dead_letter(event, failure))


def _normalise(result: object, name: str) -> list[Event]:
    if result is None:
        return []
    if isinstance(result, Event):
        return [result]
    if isinstance(result, Iterable) and not isinstance(result, str | bytes | dict):
        events = list(result)
        if all(isinstance(e, Event) for e in events):
            return events
    raise PermanentError(
        f"handler of {name!r} returned {type(result).__name__}; "
        "return None, an Event or a list of Events"
    )
