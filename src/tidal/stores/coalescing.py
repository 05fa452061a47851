"""An `IdempotencyStore` that sends the acquires (and completes) of one loop turn as one call.

Under a Kafka worker hundreds of records are in flight at once, and each would cost its own Redis
round trip twice (acquire, then complete); redis-py spends more per call than the whole rest of
the path. `CoalescingStore` queues the calls made while the event loop runs its ready callbacks
and hands them to the wrapped store's ``acquire_many`` / ``complete_many`` (one script call each,
`tidal.stores.redis`) once that turn is over. Each caller still gets exactly its own answer, and
an error of the batch is every caller's error. The Kafka worker wraps stores that batch;
``release``, ``get`` and calls that are batches already (``acquire_many`` from
`Idempotency.claim_many`) pass straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Generic, Protocol, TypeVar

from tidal.idempotency import IdempotencyStore, Record

MAX_BATCH: Final = 256

Pending = tuple[str, Record, float]
T = TypeVar("T")


class BatchingStore(IdempotencyStore, Protocol):
    """A store that can also acquire and complete many (key, record, ttl) at once."""

    async def acquire_many(self, items: Sequence[Pending]) -> list[Record | None]: ...

    async def complete_many(self, items: Sequence[Pending]) -> list[bool]: ...


def can_batch(store: IdempotencyStore) -> bool:
    return hasattr(store, "acquire_many") and hasattr(store, "complete_many")


class _Batcher(Generic[T]):
    """Collects items submitted during one loop turn and runs ``call`` once on them."""

    def __init__(self, call: Callable[[Sequence[Pending]], Awaitable[list[T]]]) -> None:
        self._call = call
        self._queued: list[tuple[Pending, asyncio.Future[T]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, item: Pending) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((item, future))
        return future

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        for start in range(0, len(queued), MAX_BATCH):
            task = asyncio.create_task(self._run(queued[start : start + MAX_BATCH]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Pending, asyncio.Future[T]]]) -> None:
        try:
            results = await self._call([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class CoalescingStore:
    """Wraps a `BatchingStore`; behaves as the plain `IdempotencyStore` it is."""

    def __init__(self, store: BatchingStore) -> None:
        self.store = store
        self._acquires: _Batcher[Record | None] = _Batcher(store.acquire_many)
        self._completes: _Batcher[bool] = _Batcher(store.complete_many)

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        return await self._acquires.submit((key, record, ttl))

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        return await self._completes.submit((key, record, ttl))

    async def acquire_many(self, items: Sequence[Pending]) -> list[Record | None]:
        """Already a batch (`Idempotency.claim_many`): straight to the store, not queued."""
        return await self.store.acquire_many(items)

    async def complete_many(self, items: Sequence[Pending]) -> list[bool]:
        return await self.store.complete_many(items)

    async def release(self, key: str, token: str) -> None:
        await self.store.release(key, token)

    async def get(self, key: str) -> Record | None:
        return await self.store.get(key)

    async def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            await close()
