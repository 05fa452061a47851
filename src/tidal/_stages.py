"""The stages of one attempt: wrappers around the handler, built once per subscription.

`tidal._dispatching.Dispatcher` builds each subscription's chain when it starts and again when a
tracer is installed or removed (`tidal.observability._hooks.watch`). Innermost runs the handler
under its timeout and emits what it returned (`handling`); around it, only where they apply:

- `idempotent`: the subscription is idempotent and a guard is configured: the handler runs in
  the guard's in-progress -> completed section, starting from the `Claim` the batch claim step
  (`tidal._dispatching.Dispatcher.claim_many`) parked for this very event, if any (`Claimed`);
- `aged`: the policy has a ``max_age``: an expired event fails before the handler runs (and
  gives back the key claimed for it);
- `traced`: a tracer is installed: a handle span per sampled attempt (its emission in an emit
  span), or, unsampled, the attempt marked as forwarding the event's trace.

A stage that does not apply is absent, so the untraced path never asks whether a tracer exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tidal._app import Subscription
from tidal._errors import AttemptsExhaustedError, EventExpiredError
from tidal._events import Event
from tidal._idempotency.copies import is_rerun
from tidal._idempotency.guard import Claim, Idempotency
from tidal._idempotency.records import decode_replies, encode_replies
from tidal._outcomes import Handled
from tidal.observability._hooks import Emit, Tracer

Claimed = dict[tuple[str, int], Claim]
"""Claims the batch claim step made, by subscription name and the identity of the event they
were made for (the subscriptions of a Kafka group share one event), until that event's
`idempotent` stage on that subscription takes its claim (``pop``) or its claim is given back.
An event claimed twice keeps its first claim: only a batch's first claim of a key can have
stored it."""


@dataclass(slots=True)
class Try:
    """One attempt as it passes the stages (``forwarding``: unsampled, see `traced`;
    ``broker``: the broker counts attempts, see `tidal._pipeline.Pipeline`). `idempotent` sets
    ``attempt`` to the number the idempotency store counts."""

    sub: Subscription
    event: Event
    attempt: int
    emit: Emit
    forwarding: bool = False
    broker: bool = False


Step = Callable[[Try], Awaitable[Handled]]
Call = Callable[[Subscription, Event, int, bool], Awaitable[list[Event]]]
"""The handler's run: (subscription, event, attempt, forwarding) -> the events it returned."""
Stamp = Callable[..., list[Event]]


def handling(call: Call, *, stamp: Stamp | None = None) -> Step:
    """The handler's run (``call``), then the emission of its events: stamped with the trace
    they carry when a tracer is installed (``stamp``)."""
    if stamp is None:

        async def run(t: Try) -> Handled:
            produced = await call(t.sub, t.event, t.attempt, t.forwarding)
            await t.emit(produced)
            return Handled(emitted=produced)

        return run

    async def run_stamped(t: Try) -> Handled:
        produced = await call(t.sub, t.event, t.attempt, t.forwarding)
        if produced:  # the span's trace, or the one the event forwards
            produced = stamp(produced, cause=t.event if t.forwarding else None)
        await t.emit(produced)
        return Handled(emitted=produced)

    return run_stamped


def event_key(prefix: str, event: Event) -> str:
    """The idempotency key of ``event`` on the subscription whose keys start with ``prefix``
    (`tidal._dispatching.Dispatcher.key_prefix`; `Dispatcher.key` and `idempotent` build it)."""
    return f"{prefix}{event.source}\x00{event.id}"


def idempotent(
    inner: Step,
    guard: Idempotency,
    prefix: str,
    claimed: Claimed,
) -> Step:
    """``inner`` at most once per key while the completed record lives; a duplicate answers
    with the events the first run emitted (a key already dead-lettered answers as a duplicate
    with none, except to a run's copy, `is_rerun`, which runs again). The attempt is counted in
    the store before ``inner`` runs (`Idempotency.run`): ``t.attempt`` becomes the store's
    count, and past the policy's ``max_attempts`` ``inner`` does not run:
    `AttemptsExhaustedError` (neither where the broker counts: there the attempt stays as the
    transport said, 1 over HTTP). An event the batch step claimed starts from its claim
    (``claimed``) instead of acquiring its key on its own. On the in-process store a new key
    takes `Idempotency.enter` / ``completed`` / ``failed`` around ``inner`` (the per-event
    path); a key with a record, a claim or a run's copy goes through `Idempotency.run`.
    ``prefix`` starts every key (`event_key`)."""

    in_process = guard.in_process  # the in-process store: its fast path, no closures
    digest_of = guard.digest

    async def run(t: Try) -> Handled:
        event = t.event
        name = event_key(prefix, event)
        claim = claimed.pop((t.sub.name, id(event)), None) if claimed else None
        if in_process and claim is None and not is_rerun(event):
            attempt, digest = t.attempt, digest_of(event)
            limit = None if t.broker else t.sub.policy.max_attempts
            try:
                token = guard.enter(name, digest, attempt, limit)
            except AttemptsExhaustedError as exc:
                t.attempt = exc.attempts
                raise
            if token is not None:
                try:
                    handled = await inner(t)
                except BaseException as exc:
                    guard.failed(name, digest, token, attempt, exc)
                    raise
                emitted = handled.emitted
                guard.completed(
                    name, digest, token, attempt, encode_replies(emitted) if emitted else None
                )
                return handled
        return await _guarded(t, name, claim)

    async def _guarded(t: Try, name: str, claim: Claim | None) -> Handled:
        done: list[Handled] = []

        def started(attempt: int) -> None:
            t.attempt = attempt

        async def once() -> bytes | None:
            handled = await inner(t)
            done.append(handled)
            return encode_replies(handled.emitted)

        if claim is not None and claim.key == name:  # claimed from this very event: same data
            digest = claim.mine.payload_hash
        else:
            digest = guard.digest(t.event)
        try:
            ran = await guard.run(
                name,
                digest,
                once,
                claim=claim,
                started=None if t.broker else started,  # over HTTP ctx.attempt stays 1
                attempt=t.attempt,
                limit=None if t.broker else t.sub.policy.max_attempts,
                rerun=is_rerun(t.event),
            )
        except AttemptsExhaustedError as exc:
            t.attempt = exc.attempts
            raise
        if ran.duplicate:
            return Handled(emitted=decode_replies(ran.result), duplicate=True)
        return done[0]

    return run


def aged(
    inner: Step,
    *,
    max_age: float,
    now: Callable[[], datetime],
    release: Callable[[Subscription, Event], Awaitable[None]],
) -> Step:
    """``inner`` for events at most ``max_age`` seconds old; older ones fail for good."""

    async def run(t: Try) -> Handled:
        sent = t.event.time
        if sent is not None:
            age = (now() - sent).total_seconds()
            if age > max_age:
                await release(t.sub, t.event)  # claimed in a batch, never to run: give it back
                raise EventExpiredError(
                    f"event is {age:.1f}s old, over the max_age of {max_age:g}s"
                )
        return await inner(t)

    return run


def traced(inner: Step, tracer: Tracer, *, subscription: str) -> Step:
    """``inner`` in a handle span (its emission in emit spans) when the tracer samples the
    attempt; otherwise with no span, its events forwarding the event's trace."""

    def run(t: Try) -> Awaitable[Handled]:
        if not tracer.sampled(t.event):  # most attempts: no frame of this stage's own
            t.forwarding = True
            return inner(t)
        return spanned(t)

    async def spanned(t: Try) -> Handled:
        with tracer.handle(t.event, subscription=subscription, attempt=t.attempt):
            t.emit = tracer.emitting(t.emit, subscription=subscription)
            return await inner(t)

    return run


async def discard(events: Sequence[Event]) -> None:
    """An `Emit` for callers that collect events from `Handled.emitted` themselves."""
