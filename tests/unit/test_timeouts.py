"""The shared-timer watchdog: overrunning bodies time out; others and outer cancels do not."""

from __future__ import annotations

import asyncio
import time

import pytest

from tidal._timeouts import Watchdog


async def test_overrunning_body_raises_timeout_error_within_the_resolution() -> None:
    watchdog = Watchdog(resolution=0.01)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with watchdog.scope(0.05):
            await asyncio.sleep(5)
    assert 0.05 <= time.monotonic() - started < 0.5


async def test_a_plain_with_block_times_out_too() -> None:
    watchdog = Watchdog(resolution=0.01)
    with pytest.raises(TimeoutError), watchdog.scope(0.05):
        await asyncio.sleep(5)
    assert watchdog._scopes == {}


async def test_body_that_finishes_in_time_is_untouched() -> None:
    watchdog = Watchdog(resolution=0.01)
    async with watchdog.scope(1):
        await asyncio.sleep(0.02)
    assert watchdog._scopes == {}


async def test_only_the_overdue_scope_of_many_is_cancelled() -> None:
    watchdog = Watchdog(resolution=0.01)

    async def run(seconds: float, limit: float) -> str:
        try:
            async with watchdog.scope(limit):
                await asyncio.sleep(seconds)
        except TimeoutError:
            return "timeout"
        return "done"

    results = await asyncio.gather(run(0.01, 1), run(1, 0.05), run(0.03, 1))
    assert results == ["done", "timeout", "done"]


async def test_an_outer_cancel_stays_a_cancel() -> None:
    watchdog = Watchdog(resolution=0.01)

    async def body() -> None:
        async with watchdog.scope(10):
            await asyncio.sleep(5)

    task = asyncio.create_task(body())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
