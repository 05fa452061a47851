"""``tidal dev``: every service under ``services/`` on the in-memory transport, fed demo traffic.

Apps' subscriptions join one `MemoryBroker`; a service with an ingress (the gateway) is served
in process over httpx's ASGI transport, publishing onto the same broker, and its demo requests
are posted through it, so demo traffic takes the production path from HTTP to handler. Shows a
live summary per subscription and the ingress' answers; stops cleanly on Ctrl-C or after
``--events N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from tidal.cli.discovering import Service, discover
from tidal.cli.summary import line, table
from tidal.errors import ConfigurationError
from tidal.idempotency import Idempotency, MemoryIdempotencyStore
from tidal.transports.memory import MemoryBroker

Send = Callable[[], Awaitable[None]]


@dataclass
class Run:
    """What a dev run has done so far: the broker's counts and each ingress' answers."""

    broker: MemoryBroker
    answers: dict[str, Counter[int]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def answers_line(self) -> str:
        parts = []
        for name, counts in self.answers.items():
            statuses = ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
            parts.append(f"{name} answered {sum(counts.values())} request(s): {statuses or '-'}")
        return " | ".join(parts)


@click.command()
@click.option(
    "--services",
    "services_dir",
    type=click.Path(path_type=Path),
    default=Path("services"),
    show_default=True,
)
@click.option(
    "--events",
    "limit",
    type=int,
    default=None,
    help="Stop after N demo events or requests (default: run until Ctrl-C).",
)
@click.option(
    "--rate",
    type=float,
    default=200.0,
    show_default=True,
    help="Demo events per second (0 = as fast as possible).",
)
@click.option(
    "--seed", type=int, default=None, help="Seed the demo generator for a repeatable run."
)
@click.option(
    "--log-level", default="ERROR", show_default=True, help="Log level of the handlers' logs."
)
def dev(
    services_dir: Path, limit: int | None, rate: float, seed: int | None, log_level: str
) -> None:
    """Run the services together on the embedded default (no server needed)."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    try:
        services = discover(services_dir)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    console = Console() if sys.stdout.isatty() else Console(width=120)  # logs: no truncation
    console.print(f"tidal dev: {', '.join(s.name for s in services)} on the memory transport")
    try:
        run = asyncio.run(_run(services, limit=limit, rate=rate, seed=seed, console=console))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(console, run)


def _report(console: Console, run: Run) -> None:
    broker = run.broker
    console.print(table(broker.stats, published=len(broker.published), elapsed=run.elapsed))
    if run.answers:
        console.print(run.answers_line(), soft_wrap=True, markup=False)
    letters = broker.all_dead_letters()
    console.print(f"{len(letters)} event(s) dead-lettered")
    for letter in letters[:5]:
        reason = letter.get_extension("tidalerrormessage")
        where = letter.get_extension("tidalsubscriber")
        console.print(
            f"  {where} {letter.type} {letter.id}: {reason}", soft_wrap=True, markup=False
        )


async def _run(
    services: list[Service], *, limit: int | None, rate: float, seed: int | None, console: Console
) -> Run:
    apps = [s.app for s in services if s.app is not None]
    broker = MemoryBroker(apps, idempotency=Idempotency(MemoryIdempotencyStore()))
    run = Run(broker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        sends = _sends(services, run, random.Random(seed), stack)
        with _display(console) as refresh:
            feeding = asyncio.create_task(_feed(sends, limit, rate, stop))
            while not feeding.done():
                refresh(run)
                await asyncio.wait({feeding}, timeout=0.5)
            feeding.result()
            await _drain(broker, stop)
            refresh(run)
    return run


def _sends(
    services: list[Service], run: Run, rng: random.Random, stack: contextlib.AsyncExitStack
) -> list[Send]:
    """One sender per demo stream: events go onto the broker, requests through the ingress."""
    sends: list[Send] = []
    for service in services:
        if service.demo is not None:
            sends.append(_publisher(run.broker, service.demo(rng)))
        if service.ingress is not None and service.requests is not None:
            transport = httpx.ASGITransport(
                app=service.ingress(run.broker), raise_app_exceptions=False
            )
            client = httpx.AsyncClient(transport=transport, base_url=f"http://{service.name}")
            stack.push_async_callback(client.aclose)
            tally = run.answers.setdefault(service.name, Counter())
            sends.append(_poster(client, service.requests(rng), tally))
    if not sends:
        raise ConfigurationError("no service ships demo traffic (demo.py: events or requests)")
    return sends


def _publisher(broker: MemoryBroker, stream: Iterator[object]) -> Send:
    async def send() -> None:
        await broker.publish(next(stream))  # type: ignore[arg-type]

    return send


def _poster(client: httpx.AsyncClient, stream: Iterator[object], tally: Counter[int]) -> Send:
    async def send() -> None:
        response = await client.send(next(stream))  # type: ignore[arg-type]
        tally[response.status_code] += 1

    return send


async def _feed(sends: list[Send], limit: int | None, rate: float, stop: asyncio.Event) -> None:
    sent = 0
    while not stop.is_set() and (limit is None or sent < limit):
        await sends[sent % len(sends)]()
        sent += 1
        await asyncio.sleep(1 / rate if rate > 0 else 0)


async def _drain(broker: MemoryBroker, stop: asyncio.Event) -> None:
    """Let in-flight deliveries finish; a second Ctrl-C (or 10 s) cancels them."""
    stop.clear()
    drained = asyncio.create_task(broker.drain())
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({drained, waiting}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if not drained.done():
        await broker.close()
        drained.cancel()


@contextlib.contextmanager
def _display(console: Console) -> Iterator[Callable[[Run], None]]:
    if sys.stdout.isatty():
        with Live(console=console, refresh_per_second=4) as live:
            yield lambda run: live.update(_live_view(run))
        return
    last = [0.0]

    def plain(run: Run) -> None:
        if run.elapsed - last[0] >= 2.0:
            last[0] = run.elapsed
            text = line(run.broker.stats, published=len(run.broker.published))
            console.print(f"{text} | {run.answers_line()}", soft_wrap=True, markup=False)

    yield plain


def _live_view(run: Run) -> Group:
    broker = run.broker
    grid = table(broker.stats, published=len(broker.published), elapsed=run.elapsed)
    return Group(grid, Text(run.answers_line()))
