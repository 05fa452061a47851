"""The loop of one `tidal dev` run: start the backend and the ingress, feed, show, drain.

`dev` builds a `Loop` (the services, a backend factory, the demo feed, the ingress socket and the
`Activity` that prints retries and dead letters) and calls `run_loop`, which returns the `Run`
for the summary. Demo traffic goes onto the backend (events) or through a service's own ingress
over httpx's ASGI transport (requests); without demo traffic (the user's own Apps) the loop runs
until Ctrl-C, fed by the ingress. A first Ctrl-C stops feeding and drains; a second stops waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from tidal._errors import ConfigurationError
from tidal._events import Event
from tidal.cli._devbackends import Backend
from tidal.cli._devingress import Ingress, serve
from tidal.cli._devwatch import Activity
from tidal.cli._discovering import Service
from tidal.cli._summary import line, table

Send = Callable[[], Coroutine[Any, Any, None]]
DRAIN_TIMEOUT: Final = 30.0
IN_FLIGHT: Final = 32  # demo requests awaiting their answer at once


@dataclass(frozen=True)
class Feed:
    """How much demo traffic to send, how fast, and where to show what happens."""

    limit: int | None
    rate: float
    seed: int | None
    console: Console


@dataclass
class Refusals:
    """An ingress' error answers of one status: count per error code, and a first message."""

    codes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        code = str(body.get("error", "?")) if isinstance(body, dict) else "?"
        message = str(body.get("message", "")) if isinstance(body, dict) else response.text
        self.codes[code] += 1
        self.examples.setdefault(code, message[:160])


@dataclass
class Run:
    """What a dev run has done so far: the backend's counts and each ingress' answers."""

    backend: Backend
    answers: dict[str, Counter[int]] = field(default_factory=dict)
    refusals: dict[str, dict[int, Refusals]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    letters: list[Event] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def answers_line(self) -> str:
        parts = []
        for name, counts in self.answers.items():
            statuses = ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
            parts.append(f"{name} answered {sum(counts.values())} request(s): {statuses or '-'}")
        return " | ".join(parts)

    def refusal_lines(self) -> list[str]:
        """Per ingress and error status: each error code, how often, and one message."""
        lines = []
        for name, by_status in self.refusals.items():
            for status, refusals in sorted(by_status.items()):
                for code, n in refusals.codes.most_common():
                    example = refusals.examples[code]
                    lines.append(f"  {name} {status} {code} x {n}, e.g. {example!r}")
        return lines


@dataclass(frozen=True)
class Loop:
    """Everything one run needs; ``demo``: feed the services' demo traffic."""

    services: list[Service]
    make_backend: Callable[[], Backend]
    feed: Feed
    activity: Activity
    ingress: socket.socket | None = None
    demo: bool = True
    letters: Callable[[Backend, Activity], Coroutine[Any, Any, None]] | None = None


async def run_loop(loop: Loop) -> Run:
    stop = asyncio.Event()
    events = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        events.add_signal_handler(sig, stop.set)
    backend = loop.make_backend()
    run = Run(backend)
    # a consumer group still waiting for its partitions must not make Ctrl-C wait: a cancelled
    # start closes what it opened (`Backend.start`)
    if not await _until_set_or(backend.start(), stop):
        return run
    try:
        async with contextlib.AsyncExitStack() as stack:
            if loop.ingress is not None:
                accepted = None if loop.demo else loop.activity.accepted
                ingress = Ingress(backend.publish_many, accepted=accepted)
                await stack.enter_async_context(serve(ingress, loop.ingress))
                _announce(loop.feed.console, loop.ingress)
            if loop.letters is not None:
                _background(stack, loop.letters(backend, loop.activity))
            await _until_stopped(loop, run, stack, stop)
    finally:
        await backend.close()
    run.letters = await backend.dead_letters()
    return run


def _announce(console: Console, sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    text = f"ingress: POST CloudEvents to {url} (tidal send {url} --type T --source S)"
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)

    async def cancel() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(cancel)


async def _until_stopped(
    loop: Loop, run: Run, stack: contextlib.AsyncExitStack, stop: asyncio.Event
) -> None:
    feed = loop.feed
    if loop.demo:
        sends = _sends(loop.services, run, random.Random(feed.seed), stack)
        feeding = asyncio.create_task(_feed(sends, feed.limit, feed.rate, stop))
    else:
        feeding = asyncio.create_task(_stopped(stop))
    with _display(feed.console, quiet=not loop.demo) as refresh:
        while not feeding.done():
            refresh(run)
            await asyncio.wait({feeding}, timeout=0.5)
        feeding.result()
        await _drain(run.backend, stop)
        refresh(run)


async def _stopped(stop: asyncio.Event) -> None:
    await stop.wait()


def _sends(
    services: list[Service], run: Run, rng: random.Random, stack: contextlib.AsyncExitStack
) -> list[Send]:
    """One sender per demo stream: events go onto the broker, requests through the ingress."""
    sends: list[Send] = []
    for service in services:
        if service.demo is not None:
            sends.append(_publisher(run.backend, service.demo(rng)))
        if service.ingress is not None and service.requests is not None:
            transport = httpx.ASGITransport(
                app=service.ingress(run.backend), raise_app_exceptions=False
            )
            client = httpx.AsyncClient(transport=transport, base_url=f"http://{service.name}")
            stack.push_async_callback(client.aclose)
            tally = run.answers.setdefault(service.name, Counter())
            refusals = run.refusals.setdefault(service.name, {})
            sends.append(_poster(client, service.requests(rng), tally, refusals))
    if not sends:
        raise ConfigurationError("no service ships demo traffic (demo.py: events or requests)")
    return sends


def _publisher(backend: Backend, stream: Iterator[Event]) -> Send:
    async def send() -> None:
        await backend.publish(next(stream))

    return send


def _poster(
    client: httpx.AsyncClient,
    stream: Iterator[object],
    tally: Counter[int],
    refusals: dict[int, Refusals],
) -> Send:
    async def send() -> None:
        response = await client.send(next(stream))  # type: ignore[arg-type]
        tally[response.status_code] += 1
        if response.status_code >= 400:
            refusals.setdefault(response.status_code, Refusals()).add(response)

    return send


async def _feed(sends: list[Send], limit: int | None, rate: float, stop: asyncio.Event) -> None:
    """Send at ``rate`` per second on a fixed schedule (0: as fast as `IN_FLIGHT` allows), up
    to `IN_FLIGHT` at once, as many producers would; wait for the last answers (after Ctrl-C,
    at most `DRAIN_TIMEOUT` s: a send stuck on a broker that is down must not keep the run)."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    running: set[asyncio.Task[None]] = set()
    started, sent = time.monotonic(), 0
    while not stop.is_set() and (limit is None or sent < limit):
        if not slots.locked():
            await slots.acquire()
        elif not await _until_set_or(slots.acquire(), stop):
            break  # Ctrl-C while every slot waits on a send
        task = asyncio.create_task(sends[sent % len(sends)]())
        running.add(task)
        task.add_done_callback(running.discard)
        task.add_done_callback(lambda _: slots.release())
        sent += 1
        await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()) if rate > 0 else 0)
    await _last_answers(running, stopped=stop.is_set())


async def _until_set_or(work: Coroutine[Any, Any, Any], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is (or gets) set first: True when ``work`` finished."""
    if stop.is_set():
        work.close()
        return False
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


async def _last_answers(running: set[asyncio.Task[None]], *, stopped: bool) -> None:
    """The sends still in flight: all of them at the demo's end; after Ctrl-C, what finishes
    within `DRAIN_TIMEOUT` s (the rest are cancelled)."""
    if not running:
        return
    if not stopped:
        await asyncio.gather(*running)
        return
    tasks = set(running)
    _, late = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(backend: Backend, stop: asyncio.Event) -> None:
    """Let in-flight deliveries finish; a second Ctrl-C (or `DRAIN_TIMEOUT` s) stops waiting."""
    stop.clear()
    drained = asyncio.create_task(backend.drain())
    waiting = asyncio.create_task(stop.wait())
    first = asyncio.FIRST_COMPLETED
    await asyncio.wait({drained, waiting}, timeout=DRAIN_TIMEOUT, return_when=first)
    waiting.cancel()
    if not drained.done():
        drained.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drained


@contextlib.contextmanager
def _display(console: Console, *, quiet: bool) -> Iterator[Callable[[Run], None]]:
    """The live table in a terminal; else a plain line every 2 s (``quiet``: only on change)."""
    if sys.stdout.isatty():
        with Live(console=console, refresh_per_second=4) as live:
            yield lambda run: live.update(_live_view(run))
        return
    last: list[Any] = [0.0, {}]

    def plain(run: Run) -> None:
        counts = dict(run.backend.stats.counts)
        if run.elapsed - last[0] < 2.0 or (quiet and counts == last[1]):
            return
        last[0], last[1] = run.elapsed, counts
        text = line(run.backend.stats, published=run.backend.published)
        answers = run.answers_line()
        console.print(f"{text} | {answers}" if answers else text, soft_wrap=True, markup=False)

    yield plain


def _live_view(run: Run) -> Group:
    backend = run.backend
    grid = table(backend.stats, published=backend.published, elapsed=run.elapsed)
    return Group(grid, Text(run.answers_line()))
