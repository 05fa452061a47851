"""An `IdempotencyStore` that sends the acquires (and completes) of one loop turn as one call.

Under a Kafka worker hundreds of records are in flight at once, and each would cost its own Redis
round trip twice (acquire, then complete); redis-py spends more per call than the whole rest of
the path. `CoalescingStore` queues the calls made while the event loop runs its ready callbacks
and hands them to the wrapped store's ``acquire_many`` / ``complete_many`` (one script call each,
`tidal._stores.redis`) once that turn is over. Calls that are batches already (``acquire_many``
from `Idempotency.claim_many`: each partition claims its ready records at once) join the turn's
call the same way, so partitions preparing in the same turn share one round trip. Each caller
still gets exactly its own answers, and an error of the call is every caller's error. The Kafka
worker asks the factory for it (`tidal._stores.factory.make_idempotency`, ``coalesce``) over a
Redis store; ``release``, ``get`` and ``close`` pass straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Generic, TypeVar

from tidal._idempotency.records import IdempotencyStore, Pending, Record

MAX_BATCH: Final = 256

T = TypeVar("T")


class _Batcher(Generic[T]):
    """Collects the items submitted during one loop turn and runs ``call`` once on them (in
    chunks of about `MAX_BATCH`); a caller may submit one item or a batch of its own."""

    def __init__(self, call: Callable[[Sequence[Pending]], Awaitable[list[T]]]) -> None:
        self._call = call
        self._queued: list[tuple[Sequence[Pending], asyncio.Future[list[T]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def one(self, item: Pending) -> T:
        return (await self.submit((item,)))[0]

    def submit(self, items: Sequence[Pending]) -> asyncio.Future[list[T]]:
        """A future of ``items``' answers, in order, once the turn's call has returned."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[T]] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((items, future))
        return future

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        chunk: list[tuple[Sequence[Pending], asyncio.Future[list[T]]]] = []
        size = 0
        for entry in queued:  # a caller's batch is never split across calls
            chunk.append(entry)
            size += len(entry[0])
            if size >= MAX_BATCH:
                self._start(chunk)
                chunk, size = [], 0
        if chunk:
            self._start(chunk)

    def _start(self, chunk: list[tuple[Sequence[Pending], asyncio.Future[list[T]]]]) -> None:
        task = asyncio.create_task(self._run(chunk))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: list[tuple[Sequence[Pending], asyncio.Future[list[T]]]]) -> None:
        items = chunk[0][0] if len(chunk) == 1 else [i for items, _ in chunk for i in items]
        try:
            results = await self._call(items)
        except Exception as exc:
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc)
            return
        at = 0
        for entry_items, future in chunk:
            n = len(entry_items)
            if not future.done():
                future.set_result(results[at : at + n])
            at += n


class CoalescingStore:
    """Wraps an `IdempotencyStore` whose batch calls are cheaper than its single ones (Redis);
    is one itself."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store
        self._acquires: _Batcher[Record | None] = _Batcher(store.acquire_many)
        self._completes: _Batcher[bool] = _Batcher(store.complete_many)

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        return await self._acquires.one((key, record, ttl))

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        return await self._completes.one((key, record, ttl))

    async def acquire_many(self, items: Sequence[Pending]) -> list[Record | None]:
        """A batch already (`Idempotency.claim_many`, one per partition): joins the batches
        and single acquires of the same loop turn in one call."""
        if not items:
            return []
        return await self._acquires.submit(items)

    async def complete_many(self, items: Sequence[Pending]) -> list[bool]:
        if not items:
            return []
        return await self._completes.submit(items)

    async def release(self, key: str, token: str) -> None:
        await self.store.release(key, token)

    async def get(self, key: str) -> Record | None:
        return await self.store.get(key)

    async def close(self) -> None:
        await self.store.close()
