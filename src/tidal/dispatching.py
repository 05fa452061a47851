"""Running one event through one subscription: filters, age, timeout, idempotency, classification.

Every transport calls `Dispatcher.attempt` (one try, the HTTP path) or `Dispatcher.deliver` (tries
until handled or failed, waiting per the policy: the memory transport). Emission of the handler's
events happens inside the attempt, before the idempotency record is completed, so an event counts
as handled only once what it produced has been sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidal.app import App, Subscription
from tidal.bindings.http import parse_request, to_batch
from tidal.clock import Clock, SystemClock
from tidal.context import Context
from tidal.deadletters import Failure, dead_letter
from tidal.errors import (
    EventExpiredError,
    HandlerTimeoutError,
    PermanentError,
    RetryableError,
)
from tidal.events import Event
from tidal.idempotency import Claim, Idempotency, payload_hash
from tidal.observability import hooks, logs
from tidal.pools import SyncPools
from tidal.stats import Stats
from tidal.timeouts import Watchdog

Emit = Callable[[Sequence[Event]], Awaitable[None]]

log = logging.getLogger("tidal.dispatch")
INFINITE = float("inf")


@dataclass(frozen=True, kw_only=True)
class Handled:
    """The handler succeeded (or had already succeeded: ``duplicate``)."""

    emitted: list[Event]
    duplicate: bool = False


@dataclass(frozen=True, kw_only=True)
class Retry:
    """The attempt failed and may be retried after ``delay`` seconds."""

    error: BaseException
    delay: float
    failed_at: datetime


@dataclass(frozen=True, kw_only=True)
class Failed:
    """Delivery is over without success: ``letter`` is the event to dead-letter."""

    error: BaseException
    failure: Failure
    letter: Event


Outcome = Handled | Retry | Failed
Watch = Callable[[Subscription, Event, Outcome, int], None]  # each attempt's outcome, number


async def _discard(events: Sequence[Event]) -> None:
    """An `Emit` for callers that collect events from `Handled.emitted` themselves."""


class Dispatcher:
    """Runs an App's handlers under their delivery policies."""

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

    def key(self, sub: Subscription, event: Event) -> str:
        """The idempotency key: per app and subscription, so fan-out targets are independent."""
        return f"tidal:{self.app.name}:{sub.name}:{event.source}\x00{event.id}"

    def guards(self, sub: Subscription) -> bool:
        """Whether attempts on ``sub`` go through the idempotency guard."""
        return self.idempotency is not None and sub.idempotent

    async def claim_many(self, sub: Subscription, events: Sequence[Event]) -> list[Claim]:
        """Acquire the idempotency keys of ``events`` on ``sub`` at once (one store call); pass
        each event's `Claim` to `attempt`. Raises what the store raises (nothing is claimed)."""
        if self.idempotency is None or not sub.idempotent or not events:
            return []
        items = [(self.key(sub, event), payload_hash(event.data)) for event in events]
        return await self.idempotency.claim_many(items)

    async def attempt(
        self,
        sub: Subscription,
        event: Event,
        *,
        attempt: int = 1,
        first_failure: datetime | None = None,
        emit: Emit | None = None,
        broker_retries: bool = False,
        claim: Claim | None = None,
    ) -> Outcome:
        """One try of ``event`` on ``sub``; ``emit`` sends what the handler produced.

        With ``broker_retries`` (Knative) the broker counts attempts, so a retryable failure is
        never final here. ``claim``: the event's idempotency key acquired by `claim_many`.
        """
        stats, started, name = self.stats, time.monotonic(), sub.name
        stats.in_flight[name] += 1
        tracer = hooks.tracer
        try:
            if tracer is None:
                handled = await self._guarded(sub, event, attempt, emit or _discard, claim)
            elif not tracer.sampled(event):  # no span; its events forward the event's trace
                handled = await self._guarded(
                    sub, event, attempt, emit or _discard, claim, forwarding=True
                )
            else:  # in a handle span, the emission in an emit span
                with tracer.handle(event, subscription=name, attempt=attempt):
                    traced = tracer.emitting(emit or _discard, subscription=name)
                    handled = await self._guarded(sub, event, attempt, traced, claim)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is classified, none escapes
            final = not broker_retries and sub.policy.exhausted(attempt)
            return self._failed_attempt(sub, event, exc, attempt, first_failure, final=final)
        finally:
            stats.in_flight[name] -= 1
            stats.observe(name, event.type, time.monotonic() - started)
        stats.bump(name, "duplicate" if handled.duplicate else "handled", event_type=event.type)
        return handled

    async def deliver(
        self,
        sub: Subscription,
        event: Event,
        *,
        emit: Emit = _discard,
        attempt: int = 1,
        first_failure: datetime | None = None,
        watch: Watch | None = None,
    ) -> Handled | Failed:
        """Try until handled or failed, sleeping on this dispatcher's clock between tries;
        ``watch`` sees every attempt's outcome (`tidal dev` shows retries as they happen)."""
        while True:
            outcome = await self.attempt(
                sub, event, attempt=attempt, first_failure=first_failure, emit=emit
            )
            if watch is not None:
                watch(sub, event, outcome, attempt)
            if not isinstance(outcome, Retry):
                return outcome
            first_failure = first_failure or outcome.failed_at
            await self.clock.sleep(outcome.delay)
            attempt += 1

    async def _guarded(
        self,
        sub: Subscription,
        event: Event,
        attempt: int,
        emit: Emit,
        claim: Claim | None,
        *,
        forwarding: bool = False,
    ) -> Handled:
        if sub.policy.max_age is not None:
            try:
                self._check_age(sub, event)
            except EventExpiredError:
                if claim is not None and claim.existing is None and self.idempotency is not None:
                    await self.idempotency.store.release(claim.key, claim.mine.token)  # never ran
                raise
        if self.idempotency is None or not sub.idempotent:
            produced = await self._call(sub, event, attempt, forwarding)
            await emit(produced)
            return Handled(emitted=produced)
        produced = []

        async def run() -> bytes | None:
            produced.extend(await self._call(sub, event, attempt, forwarding))
            await emit(produced)
            return to_batch(produced)[1] if produced else None

        key = self.key(sub, event)
        if claim is not None and claim.key == key:  # claimed from this very event: same data
            digest = claim.mine.payload_hash
        else:
            digest = payload_hash(event.data)
        outcome = await self.idempotency.run(key, digest, run, claim=claim)
        if outcome.duplicate:
            return Handled(emitted=_events_of(outcome.result), duplicate=True)
        return Handled(emitted=produced)

    def _check_age(self, sub: Subscription, event: Event) -> None:
        max_age, sent = sub.policy.max_age, event.time
        if max_age is None or sent is None:
            return
        age = (self.clock.now() - sent).total_seconds()
        if age > max_age:
            raise EventExpiredError(f"event is {age:.1f}s old, over the max_age of {max_age:g}s")

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
        tracer = hooks.tracer  # events carry the trace: the span's, or what the event forwards
        if tracer is None or not produced:
            return produced
        return tracer.stamp(produced, cause=event if forwarding else None)

    def _context(
        self, sub: Subscription, event: Event, attempt: int, timeout: float | None, forwarding: bool
    ) -> Context:
        tracer = hooks.tracer
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
    ) -> Retry | Failed:
        now = self.clock.now()
        if not isinstance(exc, PermanentError) and not final:
            self.stats.bump(sub.name, "retried", event_type=event.type)
            delay = exc.delay if isinstance(exc, RetryableError) and exc.delay is not None else None
            wait = sub.policy.delay(attempt, rng=self.rng) if delay is None else delay
            log.info(  # the traceback once, at an event's first failure
                "retrying %s on %s in %.3fs: %r",
                event.id,
                sub.name,
                wait,
                exc,
                exc_info=exc if attempt == 1 else None,
                extra=logs.event_fields(event, subscription=sub.name, attempt=attempt),
            )
            return Retry(error=exc, delay=wait, failed_at=now)
        self.stats.bump(sub.name, "failed", event_type=event.type)
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


def _events_of(batch: bytes | None) -> list[Event]:
    if not batch:
        return []
    return parse_request({"content-type": "application/cloudevents-batch+json"}, batch)
