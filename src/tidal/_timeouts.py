"""Per-attempt timeouts with one shared timer: the dispatcher wraps every handler call in one.

``asyncio.timeout`` arms a loop timer per call, which on uvloop cost more than the rest of the
HTTP hot path's dispatch together. A `Watchdog` keeps the deadlines of the running attempts in a
dict and one ticker task cancels the overdue ones, so timeouts are enforced within
``resolution`` seconds (0.05 by default), and entering / leaving a scope costs a dict write.
A scope is a plain ``with`` block (it never awaits; ``async with`` works too), so the
dispatcher's hot path creates no coroutine for it.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Final

RESOLUTION: Final = 0.05


class _Scope:
    __slots__ = ("_cancelling", "_task", "_watchdog", "deadline", "expired")

    def __init__(self, watchdog: Watchdog, deadline: float) -> None:
        self._watchdog = watchdog
        self.deadline = deadline
        self.expired = False

    def __enter__(self) -> _Scope:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout scope needs a running task")
        self._task = task
        self._cancelling = task.cancelling()
        self._watchdog._add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._watchdog._remove(self)
        cancelled_by_us = self.expired and exc_type is asyncio.CancelledError
        if cancelled_by_us and self._task.uncancel() <= self._cancelling:
            raise TimeoutError from exc

    async def __aenter__(self) -> _Scope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def expire(self) -> None:
        self.expired = True
        self._task.cancel()


class Watchdog:
    """Cancels the tasks of scopes whose deadline passed; one ticker while any scope is open."""

    def __init__(self, *, resolution: float = RESOLUTION) -> None:
        self.resolution = resolution
        self._scopes: dict[_Scope, None] = {}
        self._ticker: asyncio.Task[None] | None = None

    def scope(self, timeout: float) -> _Scope:
        """``with watchdog.scope(5):`` (inside a task) raises `TimeoutError` when the body
        overruns."""
        return _Scope(self, time.monotonic() + timeout)

    def _add(self, scope: _Scope) -> None:
        self._scopes[scope] = None
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def _remove(self, scope: _Scope) -> None:
        self._scopes.pop(scope, None)

    async def _tick(self) -> None:
        while self._scopes:
            await asyncio.sleep(self.resolution)
            now = time.monotonic()
            for scope in [s for s in self._scopes if s.deadline <= now and not s.expired]:
                scope.expire()
