"""Ctrl-C stops a `tidal dev` run whatever its backend is doing: still starting (a consumer
group waiting for its partitions) or stuck sending to a broker that does not answer. Both used
to keep the run going after SIGINT: `run_loop` awaited the start, and the feed awaited a free
send slot, before looking at the stop event."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import Iterator, Sequence

import pytest
from rich.console import Console

from tidal import App, Event
from tidal._stats import Stats
from tidal.cli import _devrun
from tidal.cli._devrun import Feed, Loop, run_loop
from tidal.cli._devwatch import Activity
from tidal.cli._discovering import Service
from tidal.testing import make_event


class Stuck:
    """A backend whose ``start`` or ``publish`` never returns (as on a broker that hangs)."""

    def __init__(self, *, start: bool = False, publish: bool = False) -> None:
        self.hang_start, self.hang_publish = start, publish
        self.start_cancelled = False
        self.sent = 0
        self.closed = False
        self.stats = Stats()
        self.published = 0

    async def start(self) -> None:
        if self.hang_start:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.start_cancelled = True
                raise

    async def publish(self, event: Event) -> None:
        self.sent += 1
        if self.hang_publish:
            await asyncio.Event().wait()

    async def publish_many(self, events: Sequence[Event]) -> None:
        for event in events:
            await self.publish(event)

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True

    def dead_lettered(self) -> int:
        return 0

    async def dead_letters(self, limit: int = 5) -> list[Event]:
        return []


def _demo(rng: object) -> Iterator[Event]:
    n = 0
    while True:
        n += 1
        yield make_event(type="t", id=f"e-{n}")


def _loop(backend: Stuck) -> Loop:
    service = Service(name="s", app=App("s"), demo=_demo)
    console = Console(file=io.StringIO(), width=120)
    return Loop(
        services=[service],
        make_backend=lambda: backend,
        feed=Feed(limit=None, rate=0, seed=1, console=console),
        activity=Activity(lambda _: None),
    )


async def _interrupted(loop: Loop, *, after: float) -> None:
    asyncio.get_running_loop().call_later(after, os.kill, os.getpid(), signal.SIGINT)
    try:
        await asyncio.wait_for(run_loop(loop), timeout=10)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().remove_signal_handler(sig)


async def test_ctrl_c_while_the_backend_starts_ends_the_run_and_cancels_the_start() -> None:
    backend = Stuck(start=True)
    await _interrupted(_loop(backend), after=0.2)
    assert backend.start_cancelled
    assert backend.sent == 0


async def test_ctrl_c_while_every_send_hangs_ends_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_devrun, "DRAIN_TIMEOUT", 0.3)
    backend = Stuck(publish=True)
    await _interrupted(_loop(backend), after=0.3)
    assert backend.sent == _devrun.IN_FLIGHT  # every slot taken, none freed
    assert backend.closed
