"""The default idempotency store (memory) stays bounded: expiry without lookups, caps on entries
and bytes, oldest first. `tidal run` with no settings uses it, so an unbounded one is a leak.
And what it costs per event: the payload is hashed once, however many subscriptions guard it."""

from __future__ import annotations

import pytest

from tidal import App, ConfigurationError, DeliveryPolicy, Event
from tidal._dispatching import Dispatcher, Failed, Handled
from tidal._errors import AttemptsExhaustedError
from tidal._idempotency import Idempotency, MemoryIdempotencyStore, Record, Status
from tidal._settings import Settings
from tidal._stores.factory import make_store
from tidal.testing import ManualClock, MemoryBroker, make_event


def record(token: str, *, result: bytes | None = None) -> Record:
    status = Status.IN_PROGRESS if result is None else Status.COMPLETED
    return Record(status=status, payload_hash="h" * 64, token=token, result=result)


async def test_unique_keys_expire_without_ever_being_looked_up_again() -> None:
    clock = ManualClock()
    store = MemoryIdempotencyStore(clock=clock)
    guard = Idempotency(store, ttl=60, clock=clock)

    async def ran() -> bytes:
        return b"reply"

    for n in range(1_000):
        await guard.run(f"key-{n}", "h" * 64, ran)
        clock.advance(1)  # a steady stream of unique events, one a second
    # records older than the 60 s ttl went as newer ones were written
    assert len(store) <= 61


async def test_more_keys_than_max_entries_evict_the_oldest() -> None:
    store = MemoryIdempotencyStore(max_entries=100)
    for n in range(10_000):
        await store.acquire(f"key-{n}", record(f"t{n}"), ttl=3600)
    assert len(store) == 100
    assert store.evicted == 9_900
    assert await store.get("key-9999") is not None
    assert await store.get("key-9899") is None


async def test_large_results_are_bounded_by_bytes() -> None:
    store = MemoryIdempotencyStore(max_bytes=1_000_000)
    for n in range(1_000):
        await store.complete(f"key-{n}", record(f"t{n}", result=b"x" * 10_000), ttl=3600)
    assert store.bytes <= 1_000_000
    assert 90 <= len(store) < 100


async def test_completing_a_record_moves_it_to_the_back_of_the_queue() -> None:
    store = MemoryIdempotencyStore(max_entries=2)
    await store.acquire("old", record("a"), ttl=60)
    await store.acquire("new", record("b"), ttl=60)
    await store.complete("old", record("a", result=b"done"), ttl=3600)
    await store.acquire("newest", record("c"), ttl=60)
    assert await store.get("old") is not None
    assert await store.get("new") is None


async def test_release_frees_its_bytes() -> None:
    store = MemoryIdempotencyStore()
    await store.acquire("k", record("a"), ttl=60)
    assert store.bytes > 0
    await store.release("k", "a")
    assert (len(store), store.bytes) == (0, 0)


async def test_the_fast_path_counts_the_bytes_of_what_it_keeps() -> None:
    """A new key's run (`Idempotency.enter`, then ``completed``) sizes its record once; a
    result adds its length, and releasing both records frees every byte."""
    store = MemoryIdempotencyStore()
    guard = Idempotency(store)

    async def nothing() -> None:
        return None

    async def reply() -> bytes:
        return b"x" * 100

    await guard.run("a", "h", nothing)
    one = store.bytes
    await guard.run("b", "h", reply)  # a key, digest and token as long as the first run's
    assert store.bytes == 2 * one + 100
    for key in ("a", "b"):
        kept = await store.get(key)
        assert kept is not None
        await store.release(key, kept.token)
    assert (len(store), store.bytes) == (0, 0)


def test_the_settings_size_the_default_store() -> None:
    settings = Settings(idempotency={"memory_max_entries": 7, "memory_max_bytes": 4096})
    store = make_store(settings.idempotency)
    assert isinstance(store, MemoryIdempotencyStore)
    assert (store.max_entries, store.max_bytes) == (7, 4096)


def test_a_store_of_no_size_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_entries"):
        MemoryIdempotencyStore(max_entries=0)


class Encoded:
    """Data that counts how often it is encoded (``str`` is the hash's JSON fallback)."""

    def __init__(self) -> None:
        self.encodings = 0

    def __str__(self) -> str:
        self.encodings += 1
        return "encoded"


async def test_an_event_fanned_out_to_idempotent_subscriptions_is_hashed_once() -> None:
    """Issue 20: the payload was re-encoded as sorted JSON for its hash per subscription."""
    app = App("fan")
    for name in ("a", "b", "c"):

        @app.on(type="t", name=name)
        async def handle(event: Event) -> None:
            return None

    encoded = Encoded()
    broker = MemoryBroker(app)  # idempotency on, in memory, by default
    await broker.publish(make_event("t", data={"value": encoded}))
    await broker.drain()
    assert [broker.stats.get(n, "handled") for n in "abc"] == [1, 1, 1]
    assert encoded.encodings == 1


async def test_a_new_key_past_the_attempt_limit_does_not_run_and_is_then_a_duplicate() -> None:
    """The in-process fast path: a Kafka retry whose record this process no longer holds (a
    restart) arrives as attempt 4 of 3: the handler does not run, and once dead-lettered, a
    redelivered copy is a duplicate, not a second dead letter."""
    calls: list[str] = []
    app = App("limits")

    @app.on(type="t", policy=DeliveryPolicy(max_attempts=3))
    async def handle(event: Event) -> None:
        calls.append(event.id)

    dispatcher = Dispatcher(app, idempotency=Idempotency(MemoryIdempotencyStore()))
    sub, event = app.subscription("handle"), make_event("t", id="late")
    outcome = await dispatcher.attempt(sub, event, attempt=4)
    assert isinstance(outcome, Failed)
    assert isinstance(outcome.error, AttemptsExhaustedError)
    assert outcome.failure.attempts == 3
    await dispatcher.dead_lettered(sub, event)
    again = await dispatcher.attempt(sub, make_event("t", id="late"))
    assert isinstance(again, Handled)
    assert again.duplicate
    assert calls == []
