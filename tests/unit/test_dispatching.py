"""The dispatcher: error classes, retries in virtual time, timeouts, age, dead-letter metadata."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError, RetryableError
from tidal._deadletters import original
from tidal._dispatching import Dispatcher, Failed, Handled, Retry
from tidal._errors import ConfigurationError, FilterError
from tidal.testing import ManualClock, make_event

POLICY = DeliveryPolicy.of(
    max_attempts=3, delay="PT1S", max_delay="PT30S", jitter=False, timeout="PT5S"
)


def dispatcher_for(app: App, clock: ManualClock) -> Dispatcher:
    return Dispatcher(app, clock=clock, rng=random.Random(1))


async def test_returned_event_is_emitted_and_reported() -> None:
    app = App("svc")

    @app.on(type="in")
    def reply(event: Event) -> Event:
        return make_event("out", data={"echo": event.data})

    emitted: list[Event] = []

    async def emit(events: object) -> None:
        emitted.extend(events)  # type: ignore[call-overload]

    outcome = await Dispatcher(app).attempt(
        app.subscription("reply"), make_event("in", data=1), emit=emit
    )
    assert isinstance(outcome, Handled)
    assert [e.type for e in outcome.emitted] == ["out"]
    assert emitted == outcome.emitted


async def test_context_emit_and_derive_give_stable_ids_across_attempts(clock: ManualClock) -> None:
    app = App("svc", policy=POLICY)
    seen: list[str] = []

    @app.on(type="in")
    def fan(event: Event, ctx: Context) -> None:
        child = ctx.derive(type="child", data={"n": 1})
        seen.append(child.id)
        ctx.emit(child)
        if ctx.attempt == 1:
            raise RetryableError("first try fails")

    outcome = await dispatcher_for(app, clock).deliver(app.subscription("fan"), make_event("in"))
    assert isinstance(outcome, Handled)
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert [e.id for e in outcome.emitted] == [seen[0]]


async def test_retryable_error_retries_with_backoff_then_dead_letters(clock: ManualClock) -> None:
    app = App("svc", policy=POLICY)
    attempts: list[int] = []

    @app.on(type="in")
    async def flaky(event: Event, ctx: Context) -> None:
        attempts.append(ctx.attempt)
        raise RetryableError("downstream is down")

    event = make_event("in", data={"k": "v"}, partitionkey="p1")
    outcome = await dispatcher_for(app, clock).deliver(app.subscription("flaky"), event)
    assert attempts == [1, 2, 3]
    assert clock.sleeps == [2.0, 4.0]  # delay * 2**n, as the Kafka broker waits
    assert isinstance(outcome, Failed)
    letter = outcome.letter
    assert original(letter) == event
    assert letter.get_extension("tidalattempts") == 3
    assert letter.get_extension("tidalerrorclass") == "RetryableError"
    assert letter.get_extension("tidalerrormessage") == "downstream is down"
    assert letter.get_extension("tidalsubscriber") == "svc/flaky"
    assert letter.get_extension("tidalfirstfailure") == "2026-01-01T00:00:00Z"
    assert letter.get_extension("tidallastfailure") == "2026-01-01T00:00:06Z"


async def test_permanent_error_dead_letters_at_once(clock: ManualClock) -> None:
    app = App("svc", policy=POLICY)

    @app.on(type="in")
    def strict(event: Event) -> None:
        raise InvalidEventError("field 'total' is missing")

    outcome = await dispatcher_for(app, clock).deliver(app.subscription("strict"), make_event("in"))
    assert isinstance(outcome, Failed)
    assert outcome.failure.attempts == 1
    assert outcome.letter.get_extension("tidalerrorclass") == "InvalidEventError"
    assert clock.sleeps == []


async def test_retry_delay_asked_by_the_error_overrides_backoff(clock: ManualClock) -> None:
    app = App("svc", policy=POLICY)

    @app.on(type="in")
    def busy(event: Event, ctx: Context) -> None:
        if ctx.attempt < 2:
            raise RetryableError("rate limited", delay=42)

    outcome = await dispatcher_for(app, clock).deliver(app.subscription("busy"), make_event("in"))
    assert isinstance(outcome, Handled)
    assert clock.sleeps == [42]


async def test_unknown_exception_is_retried_like_lambda(clock: ManualClock) -> None:
    app = App("svc", policy=POLICY)

    @app.on(type="in")
    def broken(event: Event, ctx: Context) -> None:
        if ctx.attempt == 1:
            raise KeyError("oops")

    outcome = await dispatcher_for(app, clock).attempt(app.subscription("broken"), make_event("in"))
    assert isinstance(outcome, Retry)
    assert isinstance(outcome.error, KeyError)


async def test_attempt_timeout_is_retryable_and_named() -> None:
    app = App("svc", policy=DeliveryPolicy.of(max_attempts=1, timeout=0.05))

    @app.on(type="in")
    async def slow(event: Event) -> None:
        await asyncio.sleep(5)

    outcome = await Dispatcher(app).attempt(app.subscription("slow"), make_event("in"))
    assert isinstance(outcome, Failed)
    assert outcome.failure.error_class == "HandlerTimeoutError"
    assert "timed out after 0.05s" in outcome.failure.message


async def test_event_older_than_max_age_is_dead_lettered_unhandled(clock: ManualClock) -> None:
    app = App("svc", policy=DeliveryPolicy.of(max_age="PT5M"))
    calls: list[Event] = []

    @app.on(type="in")
    def handler(event: Event) -> None:
        calls.append(event)

    old = make_event("in", time=clock.now() - timedelta(minutes=6))
    outcome = await dispatcher_for(app, clock).attempt(app.subscription("handler"), old)
    assert isinstance(outcome, Failed)
    assert outcome.failure.error_class == "EventExpiredError"
    assert calls == []


async def test_dead_letter_message_is_truncated_to_one_kibibyte(clock: ManualClock) -> None:
    app = App("svc", policy=DeliveryPolicy.of(max_attempts=1))

    @app.on(type="in")
    def loud(event: Event) -> None:
        raise InvalidEventError("é" * 5000)

    outcome = await dispatcher_for(app, clock).attempt(app.subscription("loud"), make_event("in"))
    assert isinstance(outcome, Failed)
    message = outcome.letter.get_extension("tidalerrormessage")
    assert len(message.encode()) <= 1024
    assert message.endswith("...")


async def test_handler_returning_a_non_event_is_a_permanent_failure() -> None:
    app = App("svc")

    @app.on(type="in")
    def wrong(event: Event) -> object:
        return {"not": "an event"}

    outcome = await Dispatcher(app).attempt(app.subscription("wrong"), make_event("in"))
    assert isinstance(outcome, Failed)
    assert "return None, an Event or a list of Events" in outcome.failure.message


async def test_sync_handlers_run_off_the_event_loop() -> None:
    app = App("svc")
    loop_threads: list[bool] = []

    @app.on(type="in")
    def blocking(event: Event) -> None:
        try:
            asyncio.get_running_loop()
            loop_threads.append(True)
        except RuntimeError:
            loop_threads.append(False)

    await Dispatcher(app).attempt(app.subscription("blocking"), make_event("in"))
    assert loop_threads == [False]


def test_bad_filter_fails_at_import_naming_the_subscription() -> None:
    app = App("svc")
    with pytest.raises(FilterError, match="subscription 'bad' of app 'svc'"):
        app.on(data={"price": [{"numeric": [">>", 1]}]}, name="bad")(lambda event: None)


def test_handler_with_wrong_arity_is_rejected() -> None:
    app = App("svc")
    with pytest.raises(ConfigurationError, match="must take \\(event\\) or \\(event, context\\)"):
        app.on(type="x", name="zero")(lambda: None)


def test_duplicate_subscription_names_are_rejected() -> None:
    app = App("svc")
    app.on(type="x", name="one")(lambda event: None)
    with pytest.raises(ConfigurationError, match="already has a subscription named 'one'"):
        app.on(type="y", name="one")(lambda event: None)


def test_fan_out_matches_every_subscription_whose_filters_pass() -> None:
    app = App("svc")
    app.on(type="order", name="all-orders")(lambda event: None)
    app.on(type="order", data={"total": [{"numeric": [">", 100]}]}, name="big")(lambda event: None)
    app.on(type="refund", name="refunds")(lambda event: None)
    small = make_event("order", data={"total": 5})
    big = make_event("order", data={"total": 500})
    assert [s.name for s in app.matching(small)] == ["all-orders"]
    assert [s.name for s in app.matching(big)] == ["all-orders", "big"]


async def test_context_deadline_is_the_attempt_start_plus_the_timeout(clock: ManualClock) -> None:
    app = App("svc", policy=DeliveryPolicy.of(timeout="PT10S"))
    seen: list[object] = []

    @app.on(type="in")
    async def timed(event: Event, ctx: Context) -> None:
        clock.advance(4)
        seen.extend([ctx.deadline, ctx.remaining()])

    await dispatcher_for(app, clock).attempt(app.subscription("timed"), make_event("in"))
    assert seen == [clock.now() + timedelta(seconds=6), 6.0]


async def test_stats_record_outcome_by_type_latency_and_in_flight() -> None:
    app = App("svc")
    during: list[int] = []
    dispatcher = Dispatcher(app)

    @app.on(type="in")
    async def observed(event: Event) -> None:
        during.append(dispatcher.stats.in_flight["observed"])
        await asyncio.sleep(0.02)

    await dispatcher.attempt(app.subscription("observed"), make_event("in"))
    stats = dispatcher.stats
    assert during == [1]
    assert stats.in_flight["observed"] == 0
    assert stats.typed[("observed", "in", "handled")] == 1
    histogram = stats.latency[("observed", "in")]
    assert histogram.count == 1
    assert 0.02 <= histogram.total < 1
    assert histogram.cumulative()[-1] == (float("inf"), 1)
    assert dict(histogram.cumulative())[0.01] == 0
