"""Idempotency on both stores (memory and a real redis-server): once-only, conflicts, races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tidal import (
    App,
    AttemptsExhaustedError,
    DeliveryPolicy,
    Event,
    IdempotencyConflictError,
    IdempotencyInProgressError,
)
from tidal._dispatching import Dispatcher, Failed, Handled, Retry
from tidal._idempotency import (
    Idempotency,
    IdempotencyStore,
    MemoryIdempotencyStore,
    Record,
    Status,
    payload_hash,
)
from tidal._stores.redis import RedisIdempotencyStore
from tidal.testing import make_event

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore()
        return
    redis_store = RedisIdempotencyStore.from_url(request.getfixturevalue("redis_url"))
    await redis_store.client.flushdb()
    yield redis_store
    await redis_store.close()


def counting_app(calls: list[str], *, delay: float = 0.0, fail_first: bool = False) -> App:
    app = App("idem")

    @app.on(type="in")
    async def work(event: Event) -> Event:
        calls.append(event.id)
        await asyncio.sleep(delay)
        if fail_first and len(calls) == 1:
            raise RuntimeError("crash in the middle")
        return make_event("out", data={"for": event.id}, id=f"out-{event.id}")

    return app


async def test_many_concurrent_duplicates_run_the_handler_exactly_once(
    store: IdempotencyStore,
) -> None:
    calls: list[str] = []
    app = counting_app(calls, delay=0.05)
    dispatcher = Dispatcher(app, idempotency=Idempotency(store, poll_interval=0.01))
    event = make_event("in", data={"n": 1}, id="dup-1")
    outcomes = await asyncio.gather(
        *(dispatcher.attempt(app.subscription("work"), event) for _ in range(50))
    )
    assert calls == ["dup-1"]
    assert all(isinstance(o, Handled) for o in outcomes)
    handled = [o for o in outcomes if isinstance(o, Handled)]
    assert sum(not o.duplicate for o in handled) == 1
    assert {tuple(e.id for e in o.emitted) for o in handled} == {("out-dup-1",)}


async def test_concurrent_duplicate_is_reported_in_progress_when_configured(
    store: IdempotencyStore,
) -> None:
    calls: list[str] = []
    app = counting_app(calls, delay=0.2)
    dispatcher = Dispatcher(app, idempotency=Idempotency(store, on_in_progress="report"))
    event = make_event("in", data={"n": 1})
    first, second = await asyncio.gather(
        dispatcher.attempt(app.subscription("work"), event),
        dispatcher.attempt(app.subscription("work"), event),
    )
    assert isinstance(first, Handled)
    assert isinstance(second, Retry)
    assert isinstance(second.error, IdempotencyInProgressError)


async def test_same_key_different_payload_is_a_permanent_conflict(store: IdempotencyStore) -> None:
    app = counting_app([])
    dispatcher = Dispatcher(app, idempotency=Idempotency(store))
    await dispatcher.attempt(app.subscription("work"), make_event("in", data={"n": 1}, id="k"))
    outcome = await dispatcher.attempt(
        app.subscription("work"), make_event("in", data={"n": 2}, id="k")
    )
    assert isinstance(outcome, Failed)
    assert isinstance(outcome.error, IdempotencyConflictError)
    assert "different payload" in outcome.failure.message


async def test_a_redelivery_matches_the_redis_record_an_earlier_tidal_wrote(redis_url: str) -> None:
    """Redis records outlive an upgrade: the digest they carry is still `payload_hash`'s, so
    the redelivery is a duplicate, not a conflict (a dead letter)."""
    store = RedisIdempotencyStore.from_url(redis_url)
    await store.client.flushdb()
    calls: list[str] = []
    app = counting_app(calls)
    dispatcher = Dispatcher(app, idempotency=Idempotency(store))
    data = {"n": 1, "caf\u00e9": [1.5, None]}
    event = make_event("in", data=data, id="before-the-upgrade")
    written = Record(status=Status.COMPLETED, payload_hash=payload_hash(data), token="older")
    await store.complete(dispatcher.key(app.subscription("work"), event), written, ttl=60)
    outcome = await dispatcher.attempt(app.subscription("work"), event)
    await store.close()
    assert isinstance(outcome, Handled)
    assert outcome.duplicate
    assert calls == []


async def test_failure_releases_the_record_so_a_retry_runs(store: IdempotencyStore) -> None:
    calls: list[str] = []
    app = counting_app(calls, fail_first=True)
    dispatcher = Dispatcher(app, idempotency=Idempotency(store))
    event = make_event("in", data={}, id="retry-me")
    assert isinstance(await dispatcher.attempt(app.subscription("work"), event), Retry)
    assert isinstance(await dispatcher.attempt(app.subscription("work"), event, attempt=2), Handled)
    assert calls == ["retry-me", "retry-me"]


async def test_fan_out_subscriptions_have_independent_records(store: IdempotencyStore) -> None:
    app = App("fan")
    seen: list[str] = []
    app.on(type="in", name="a")(lambda event: seen.append("a"))
    app.on(type="in", name="b")(lambda event: seen.append("b"))
    dispatcher = Dispatcher(app, idempotency=Idempotency(store))
    event = make_event("in")
    for sub in app.subscriptions:
        await dispatcher.attempt(sub, event)
        await dispatcher.attempt(sub, event)
    assert sorted(seen) == ["a", "b"]


async def test_completed_record_expires_after_its_ttl(store: IdempotencyStore) -> None:
    completed = Record(status=Status.COMPLETED, payload_hash="h", token="t1")
    assert await store.acquire("k-ttl", completed, ttl=0.05) is None
    assert await store.acquire("k-ttl", completed, ttl=0.05) == completed
    await asyncio.sleep(0.15)
    assert await store.get("k-ttl") is None


async def test_only_the_owner_may_complete_or_release(store: IdempotencyStore) -> None:
    mine = Record(status=Status.IN_PROGRESS, payload_hash="h", token="mine")
    theirs = Record(status=Status.COMPLETED, payload_hash="h", token="theirs")
    assert await store.acquire("k-own", mine, ttl=10) is None
    assert await store.complete("k-own", theirs, ttl=10) is False
    await store.release("k-own", "theirs")
    assert await store.get("k-own") == mine
    await store.release("k-own", "mine")
    assert await store.get("k-own") is None


async def test_claimed_batches_keep_duplicates_to_one_run(store: IdempotencyStore) -> None:
    """`claim_many` (one store call for a batch, as the Kafka worker does) then attempts:
    an event already done, and one event twice in the same batch, each run exactly once."""
    calls: list[str] = []
    app = counting_app(calls, delay=0.02)
    sub = app.subscription("work")
    dispatcher = Dispatcher(app, idempotency=Idempotency(store, poll_interval=0.01))
    done, fresh = make_event("in", data={"n": 1}, id="b-1"), make_event("in", data={}, id="b-2")
    assert isinstance(await dispatcher.attempt(sub, done), Handled)
    again = make_event("in", data={}, id="b-2")  # the same event, read a second time
    batch = [done, fresh, again]
    claims = await dispatcher.claim_many(sub, batch)
    assert [c.existing is None for c in claims] == [False, True, False]
    outcomes = await asyncio.gather(  # the in-batch duplicate first: it waits for the owner
        *(dispatcher.attempt(sub, e) for e in reversed(batch))
    )
    assert calls == ["b-1", "b-2"]
    assert [isinstance(o, Handled) and o.duplicate for o in outcomes] == [True, False, True]
    assert not dispatcher._claimed  # every claim was taken by its event's attempt
    assert {e.id for o in outcomes if isinstance(o, Handled) for e in o.emitted} == {
        "out-b-1",
        "out-b-2",
    }


async def test_a_claim_of_another_event_is_ignored(store: IdempotencyStore) -> None:
    calls: list[str] = []
    app = counting_app(calls)
    sub = app.subscription("work")
    dispatcher = Dispatcher(app, idempotency=Idempotency(store))
    one, other = make_event("in", data={}, id="c-1"), make_event("in", data={}, id="c-2")
    (claim,) = await dispatcher.claim_many(sub, [one])
    outcome = await dispatcher.attempt(sub, other)  # acquires c-2 itself
    assert isinstance(outcome, Handled)
    assert not outcome.duplicate
    assert calls == ["c-2"]
    assert (await store.get(claim.key)) == claim.mine  # c-1 still claimed, untouched


async def test_a_batch_completes_only_the_records_it_owns(redis_url: str) -> None:
    store = RedisIdempotencyStore.from_url(redis_url)
    await store.client.flushdb()
    mine = Record(status=Status.IN_PROGRESS, payload_hash="h", token="mine")
    assert await store.acquire_many([("k-1", mine, 10), ("k-2", mine, 10)]) == [None, None]
    ours = Record(status=Status.COMPLETED, payload_hash="h", token="mine", result=b"r")
    theirs = Record(status=Status.COMPLETED, payload_hash="h", token="theirs")
    assert await store.complete_many([("k-1", theirs, 10), ("k-2", ours, 10)]) == [False, True]
    assert await store.get("k-1") == mine
    assert await store.get("k-2") == ours
    await store.close()


async def test_an_owner_is_told_by_its_whole_token(store: IdempotencyStore) -> None:
    """A token that is a prefix of the owner's, or whose text the payload hash holds, owns
    nothing: complete, release and the batch complete all refuse it (the Redis scripts find
    the owner by `tidal._idempotency.records.owner_mark`, without decoding the record)."""
    hidden = 'x","t":"tok","r":null}'
    theirs = Record(status=Status.IN_PROGRESS, payload_hash=hidden, token="tok1")
    for key in ("o-1", "o-2"):
        assert await store.acquire(key, theirs, ttl=10) is None
    mine = Record(status=Status.COMPLETED, payload_hash=hidden, token="tok")
    assert await store.complete("o-1", mine, ttl=10) is False
    assert await store.complete_many([("o-1", mine, 10), ("o-2", mine, 10)]) == [False, False]
    await store.release("o-1", "tok")
    assert [await store.get(key) for key in ("o-1", "o-2")] == [theirs, theirs]
    assert await store.complete("o-1", replace(mine, token="tok1"), ttl=10) is True


async def test_a_claimed_event_too_old_to_run_releases_its_claim(store: IdempotencyStore) -> None:
    app = App("idem-age")

    @app.on(type="in", policy=DeliveryPolicy(max_age=60))
    async def work(event: Event) -> None:
        raise AssertionError("an expired event must not run")

    sub = app.subscription("work")
    dispatcher = Dispatcher(app, idempotency=Idempotency(store))
    old = make_event("in", data={}, id="old-1", time=datetime.now(UTC) - timedelta(hours=1))
    (claim,) = await dispatcher.claim_many(sub, [old])
    assert await store.get(claim.key) == claim.mine
    outcome = await dispatcher.attempt(sub, old)
    assert isinstance(outcome, Failed)
    assert await store.get(claim.key) is None


def in_progress(token: str, *, attempt: int = 1, lease: int = 0, digest: str = "h") -> Record:
    return Record(
        status=Status.IN_PROGRESS, payload_hash=digest, token=token, attempt=attempt, lease=lease
    )


async def test_a_failed_record_is_taken_over_as_the_next_attempt(store: IdempotencyStore) -> None:
    """Both stores apply `successor` in the acquire itself: the count survives the failure."""
    failed = Record(status=Status.FAILED, payload_hash="h", token="first", attempt=2)
    assert await store.complete("k-fail", failed, ttl=10)
    taken = await store.acquire("k-fail", in_progress("next", lease=5_000), ttl=10)
    assert taken is not None
    assert (taken.token, taken.attempt, taken.status) == ("next", 3, Status.IN_PROGRESS)
    assert await store.get("k-fail") == taken
    other = Record(status=Status.FAILED, payload_hash="h", token="x", attempt=2)
    assert await store.complete("k-other", other, ttl=10)
    fresh = await store.acquire("k-other", in_progress("y", attempt=1, digest="g"), ttl=10)
    assert fresh is not None
    assert fresh.attempt == 1, "another payload starts the count over"


async def test_an_in_progress_record_stands_until_its_lease_runs_out(
    store: IdempotencyStore,
) -> None:
    held = in_progress("dead-worker", attempt=2, lease=200)
    assert await store.acquire("k-lease", held, ttl=10) is None
    assert await store.acquire("k-lease", in_progress("next", lease=200), ttl=10) == held
    await asyncio.sleep(0.3)
    taken = await store.acquire("k-lease", in_progress("next", lease=200), ttl=10)
    assert taken is not None
    assert (taken.token, taken.attempt) == ("next", 3)
    again = await store.acquire("k-lease", in_progress("next", lease=200), ttl=10)
    assert again == taken, "our own record is kept (its lease renewed), not counted again"


async def test_a_dead_letter_stands_except_for_a_runs_copy(store: IdempotencyStore) -> None:
    dead = Record(status=Status.DEAD, payload_hash="h", token="t", attempt=3)
    assert await store.complete("k-dead", dead, ttl=10)
    assert await store.acquire("k-dead", in_progress("r", lease=1000), ttl=10) == dead
    redriven = replace(in_progress("d", lease=1000), rerun=True)
    taken = await store.acquire("k-dead", redriven, ttl=10)
    assert taken is not None
    assert (taken.token, taken.attempt) == ("d", 1), "a re-drive starts over"
    done = Record(status=Status.COMPLETED, payload_hash="h", token="d", attempt=1)
    assert await store.complete("k-dead", done, ttl=10)
    again = replace(in_progress("e", lease=1000), rerun=True)
    assert await store.acquire("k-dead", again, ttl=10) == done, "handled: a duplicate"


async def test_the_guard_counts_attempts_and_runs_none_past_the_limit(
    store: IdempotencyStore,
) -> None:
    guard = Idempotency(store, in_progress_ttl=0.2)
    seen: list[int] = []

    async def fail() -> bytes:
        raise RuntimeError("fails")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            await guard.run("k-guard", "h", fail, attempt=1, limit=3, started=seen.append)
    with pytest.raises(AttemptsExhaustedError) as exhausted:
        await guard.run("k-guard", "h", fail, attempt=1, limit=3, started=seen.append)
    assert seen == [1, 2, 3], "the store's count, whatever number the caller brought"
    assert exhausted.value.attempts == 3
    await guard.dead_lettered("k-guard")
    record = await store.get("k-guard")
    assert record is not None
    assert record.status is Status.DEAD
