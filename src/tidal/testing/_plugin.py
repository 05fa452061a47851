"""The pytest plugin ``tidal`` (the ``pytest11`` entry point): fixtures, and async tests that run.

Installed with tidal, pytest loads it by itself. Fixtures:

- ``tidal_clock``: a `ManualClock` (retries run at once; ``sleeps`` lists their delays);
- ``tidal_broker``: ``tidal_broker(app, ...)`` builds a `MemoryBroker` on ``tidal_clock``
  (idempotency on), closed after the test;
- ``tidal_context``: ``tidal_context(event, attempt=2)`` builds a `Context` on ``tidal_clock``.

An ``async def`` test that no asyncio plugin claims (no pytest-asyncio, or its strict mode without
a marker) runs in a fresh event loop here, so a project needs no ``asyncio_mode`` setting. Tests
marked ``asyncio``, ``anyio`` or ``trio`` are left to those plugins.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Final

import pytest

from tidal._app import App
from tidal._context import Context
from tidal._events import Event
from tidal.testing import ManualClock, MemoryBroker, make_context

OTHER_RUNNERS: Final = ("asyncio", "anyio", "trio")

BrokerFactory = Callable[..., MemoryBroker]
ContextFactory = Callable[..., Context]


@pytest.fixture
def tidal_clock() -> ManualClock:
    """Virtual time: sleeps return at once and move the clock by what they asked."""
    return ManualClock()


@pytest.fixture
def tidal_broker(tidal_clock: ManualClock) -> BrokerFactory:
    """``tidal_broker(app_or_apps, **options)``: a `MemoryBroker` on ``tidal_clock``."""

    def build(apps: App | Iterable[App], **options: Any) -> MemoryBroker:
        options.setdefault("clock", tidal_clock)
        return MemoryBroker(apps, **options)

    return build


@pytest.fixture
def tidal_context(tidal_clock: ManualClock) -> ContextFactory:
    """``tidal_context(event=None, *, attempt=1, subscription="test", ...)``: a handler's
    `Context` on ``tidal_clock``; ``ctx.emitted`` holds what the handler emitted."""

    def build(event: Event | None = None, **options: Any) -> Context:
        options.setdefault("clock", tidal_clock)
        return make_context(event, **options)

    return build


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an unclaimed ``async def`` test to completion in a new event loop."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    if any(pyfuncitem.get_closest_marker(name) for name in OTHER_RUNNERS):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(function(**arguments))
    return True
