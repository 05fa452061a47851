"""Threads for sync handlers: a bounded pool per subscription, whose timed-out calls are abandoned.

`Dispatcher._call` runs every sync handler through `SyncPools.run` inside the attempt's timeout.
``asyncio.to_thread`` shared one executor (``min(32, cpus + 4)`` threads) among every
subscription, and a timed-out call kept its thread: a few hanging events filled it, and from
then on every sync handler timed out waiting for a thread while the process looked healthy.

Here each subscription has its own `SyncPool` of at most ``size`` working threads. A call
cancelled by its timeout leaves its thread running (Python cannot stop a thread) but *abandons*
it: the thread no longer counts against ``size``, so a fresh one takes its place, and it is
counted until its call returns, when it ends. Past ``max_abandoned`` hung threads the pool is
exhausted: calls fail at once with `PoolExhausted` (retryable), and `tidal._health` reports the
process unhealthy, so its liveness probe fails and Kubernetes restarts it. Threads are daemons,
so a hung handler never holds up the exit either.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import queue
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Final

from tidal import _health as health
from tidal._errors import RetryableError

DEFAULT_SIZE: Final = 8

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class PoolExhausted(RetryableError):
    """Too many of a subscription's sync handler threads hang after timing out."""


class _Thread:
    """One daemon thread running the calls it is given, one at a time."""

    def __init__(self, pool: SyncPool) -> None:
        self.pool = pool
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.busy = False
        self.abandoned = False
        name = f"tidal-sync-{pool.name}"
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            call, loop, future = job
            result, error = None, None
            try:
                result = call()
            except BaseException as exc:
                error = exc
            with self.pool.lock:  # before the caller resumes: `_release` reads it
                self.busy = False
                if self.abandoned:
                    self.pool.abandoned -= 1
                    self.pool.gauge[self.pool.name] = self.pool.abandoned
                    return
            with suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, result, error)


class SyncPool:
    """At most ``size`` threads working for one subscription, ``max_abandoned`` hung ones."""

    def __init__(
        self,
        name: str,
        *,
        size: int = DEFAULT_SIZE,
        max_abandoned: int | None = None,
        gauge: dict[str, int] | None = None,
    ):
        self.name = name
        self.gauge = {} if gauge is None else gauge  # name -> abandoned, for /metrics
        self.size = size
        self.max_abandoned = size if max_abandoned is None else max_abandoned
        self.lock = threading.Lock()
        self.abandoned = 0
        self._working = 0
        self._idle: list[_Thread] = []
        self._waiters: deque[asyncio.Future[None]] = deque()
        health.watch(self)

    def problem(self) -> str | None:
        """Why this pool makes the process unhealthy (`tidal._health`), or None."""
        if self.abandoned < self.max_abandoned:
            return None
        return (
            f"subscription {self.name}: {self.abandoned} sync handler threads still running "
            "after their timeout (restart to recover them)"
        )

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on one of the pool's threads, in this task's context."""
        if (problem := self.problem()) is not None:
            raise PoolExhausted(problem)
        thread = await self._thread()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        thread.busy = True
        thread.jobs.put((call, loop, future))
        try:
            return await future
        finally:
            self._release(thread)

    async def _thread(self) -> _Thread:
        while True:
            if self._idle:
                return self._idle.pop()
            if self._working < self.size:
                self._working += 1
                return _Thread(self)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, but cancelled before it could use the thread
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _release(self, thread: _Thread) -> None:
        """Back to idle when its call returned; abandoned (replaced) while it still runs."""
        with self.lock:
            if thread.busy:
                thread.abandoned = True
                self.abandoned += 1
                self.gauge[self.name] = self.abandoned
        if thread.abandoned:
            self._working -= 1
            thread.jobs.put(None)  # ends once the hung call returns
        else:
            self._idle.append(thread)
        self._wake()

    def _wake(self) -> None:
        """Let the longest-waiting call look for a thread again."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller timed out and went on
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Default:
    size: int = DEFAULT_SIZE


def default_size(threads: int) -> None:
    """Give each subscription's pool ``threads`` threads in `SyncPools` made from now on
    (``TIDAL_SYNC_THREADS``, set by ``tidal run``)."""
    if threads < 1:
        raise ValueError(f"a sync handler pool needs at least one thread, not {threads}")
    _Default.size = threads


class SyncPools:
    """One `SyncPool` per subscription, made on first use."""

    def __init__(self, *, size: int | None = None, gauge: dict[str, int] | None = None) -> None:
        self.size = _Default.size if size is None else size
        self.gauge = gauge  # `Stats.hung`: abandoned threads by subscription
        self._pools: dict[str, SyncPool] = {}

    def pool(self, subscription: str) -> SyncPool:
        pool = self._pools.get(subscription)
        if pool is None:
            pool = SyncPool(subscription, size=self.size, gauge=self.gauge)
            self._pools[subscription] = pool
        return pool

    async def run(self, subscription: str, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.pool(subscription).run(fn, *args)
