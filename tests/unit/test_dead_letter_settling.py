"""A dead-lettered event's redelivered copy is a duplicate, not a second dead letter; a run's
copy (re-drive, replay, restore: the ``tidal-run`` header) runs again.

Found in the files service: SQS redelivered a corrupt image's notification whose
acknowledgement was lost, and each copy was dead-lettered again, since a failed run releases
its idempotency key (tests/services/test_files_end_to_end.py)."""

from __future__ import annotations

import pytest

from tidal import App, Event, InvalidEventError
from tidal._idempotency import (
    Idempotency,
    MemoryIdempotencyStore,
    Status,
    is_rerun,
    mark_rerun,
)
from tidal.testing import ManualClock, MemoryBroker, make_event


def poisoned() -> tuple[App, list[str]]:
    app = App("images")
    seen: list[str] = []

    @app.on(type="com.example.image.v1")
    async def thumbnail(event: Event) -> None:
        seen.append(event.id)
        raise InvalidEventError("corrupt image data")

    return app, seen


def notification() -> Event:
    return make_event("com.example.image.v1", source="/bucket", id="n-1", data={"key": "a.jpg"})


async def test_a_redelivered_copy_of_a_dead_lettered_event_is_not_dead_lettered_again(
    clock: ManualClock,
) -> None:
    app, seen = poisoned()
    broker = MemoryBroker(app, clock=clock)
    await broker.send(notification())
    await broker.send(notification())  # the source's acknowledgement was lost: sent again
    assert len(broker.all_dead_letters()) == 1
    assert seen == ["n-1"]  # the copy never reached the handler


async def test_a_run_copy_of_a_dead_lettered_event_runs_again(clock: ManualClock) -> None:
    app, seen = poisoned()
    broker = MemoryBroker(app, clock=clock)
    await broker.send(notification())
    redriven = notification()
    mark_rerun(redriven)
    assert is_rerun(redriven)
    assert not is_rerun(notification())
    await broker.send(redriven)  # `tidal dlq redrive` after a fix: the handler runs again
    assert seen == ["n-1", "n-1"]
    assert len(broker.all_dead_letters()) == 2


async def test_a_run_copy_of_a_handled_event_stays_a_duplicate() -> None:
    guard = Idempotency(MemoryIdempotencyStore())
    runs: list[int] = []

    async def once() -> bytes | None:
        runs.append(1)
        return None

    await guard.run("k", "d", once)
    outcome = await guard.run("k", "d", once, rerun=True)  # a replay of handled history
    assert outcome.duplicate
    assert runs == [1]


async def test_a_dead_letter_mark_leaves_a_key_someone_else_took_over() -> None:
    store = MemoryIdempotencyStore()
    first, second = Idempotency(store), Idempotency(store)

    async def fail() -> bytes | None:
        raise InvalidEventError("corrupt image data")

    with pytest.raises(InvalidEventError):
        await first.run("k", "d", fail)
    [claim] = await second.claim_many([("k", "d", False)])  # the next attempt, elsewhere
    assert claim.existing is not None
    await first.dead_lettered("k")
    record = await store.get("k")
    assert record is not None
    assert (record.status, record.token) == (Status.IN_PROGRESS, claim.mine.token)
    assert record.attempt == 2


async def test_a_run_copy_counts_its_attempts_afresh_on_the_memory_store() -> None:
    store = MemoryIdempotencyStore()
    guard = Idempotency(store)
    seen: list[int] = []

    async def fail() -> bytes | None:
        raise InvalidEventError("corrupt image data")

    for _ in range(2):
        with pytest.raises(InvalidEventError):
            await guard.run("k", "d", fail, limit=2, started=seen.append)
    await guard.dead_lettered("k")
    dead = await store.get("k")
    assert dead is not None
    assert dead.status is Status.DEAD
    assert (await guard.run("k", "d", fail, limit=2)).duplicate
    with pytest.raises(InvalidEventError):
        await guard.run("k", "d", fail, limit=2, started=seen.append, rerun=True)
    assert seen == [1, 2, 1]
