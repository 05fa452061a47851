"""``tidal dev``: every service under ``services/`` together, fed demo traffic.

By default on the embedded transport: the Apps' subscriptions join one `MemoryBroker`, state
stays in memory. ``--kafka`` runs the same on a Kafka-protocol broker and Redis (a local tansu
and redis-server started for the run, or the ones given with ``--bootstrap-servers`` /
``--redis-url``), each App a consumer-group worker in this process (`tidal.cli.devkafka`).
Either way a service with an ingress (the gateway) is served in process over httpx's ASGI
transport, publishing onto the broker, and its demo requests are posted through it, so demo
traffic takes the production path from HTTP to handler. Shows a live summary per subscription
and the ingress' answers; stops cleanly on Ctrl-C or after ``--events N``.
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
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import click
import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from tidal.app import App
from tidal.cli.discovering import Service, discover
from tidal.cli.summary import line, table
from tidal.errors import ConfigurationError
from tidal.events import Event
from tidal.idempotency import Idempotency, MemoryIdempotencyStore
from tidal.redaction import redact_url
from tidal.stats import Stats
from tidal.transports.memory import MemoryBroker

Send = Callable[[], Coroutine[Any, Any, None]]
DRAIN_TIMEOUT: Final = 30.0
IN_FLIGHT: Final = 32  # demo requests awaiting their answer at once


class Backend(Protocol):
    """Where a dev run's events go: the memory broker, or Kafka workers (`devkafka`)."""

    @property
    def stats(self) -> Stats: ...

    @property
    def published(self) -> int: ...

    async def start(self) -> None: ...

    async def publish(self, event: Event) -> None: ...

    async def publish_many(self, events: Sequence[Event]) -> None: ...

    async def drain(self) -> None: ...

    async def close(self) -> None: ...

    def dead_lettered(self) -> int: ...

    async def dead_letters(self, limit: int = 5) -> list[Event]: ...


class MemoryBackend:
    """The embedded default: one `MemoryBroker` for every App, idempotency in memory."""

    label = "the memory transport"

    def __init__(self, apps: Sequence[App]) -> None:
        self.broker = MemoryBroker(list(apps), idempotency=Idempotency(MemoryIdempotencyStore()))

    @property
    def stats(self) -> Stats:
        return self.broker.stats

    @property
    def published(self) -> int:
        return len(self.broker.published)

    async def start(self) -> None:
        return None

    async def publish(self, event: Event) -> None:
        await self.broker.publish(event)

    async def publish_many(self, events: Sequence[Event]) -> None:
        await self.broker.publish_many(events)

    async def drain(self) -> None:
        await self.broker.drain()

    async def close(self) -> None:
        await self.broker.close()

    def dead_lettered(self) -> int:
        return len(self.broker.all_dead_letters())

    async def dead_letters(self, limit: int = 5) -> list[Event]:
        return self.broker.all_dead_letters()[:limit]


@dataclass
class Run:
    """What a dev run has done so far: the backend's counts and each ingress' answers."""

    backend: Backend
    answers: dict[str, Counter[int]] = field(default_factory=dict)
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
    "--kafka",
    is_flag=True,
    help="Run on a Kafka-protocol broker and Redis (local tansu and redis-server by default).",
)
@click.option(
    "--bootstrap-servers",
    default=None,
    help="With --kafka: use this running Kafka instead of starting tansu.",
)
@click.option(
    "--redis-url",
    default=None,
    help="With --kafka: use this running Redis instead of starting redis-server.",
)
@click.option(
    "--log-level", default="ERROR", show_default=True, help="Log level of the handlers' logs."
)
def dev(
    services_dir: Path,
    limit: int | None,
    rate: float,
    seed: int | None,
    kafka: bool,
    bootstrap_servers: str | None,
    redis_url: str | None,
    log_level: str,
) -> None:
    """Run the services together on the embedded default (no server needed), or with --kafka."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    if not kafka and (bootstrap_servers or redis_url):
        raise click.UsageError("--bootstrap-servers and --redis-url go with --kafka")
    console = Console() if sys.stdout.isatty() else Console(width=120)  # logs: no truncation
    try:
        feed = Feed(limit=limit, rate=rate, seed=seed, console=console)
        if kafka:
            run = _run_on_kafka(services_dir, bootstrap_servers, redis_url, feed)
        else:
            run = _run_in_memory(services_dir, feed)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(console, run)


@dataclass(frozen=True)
class Feed:
    """How much demo traffic to send, how fast, and where to show what happens."""

    limit: int | None
    rate: float
    seed: int | None
    console: Console


def _run_in_memory(services_dir: Path, feed: Feed) -> Run:
    services = discover(services_dir)
    _banner(feed.console, services, MemoryBackend.label)
    apps = [s.app for s in services if s.app is not None]
    return asyncio.run(_run(services, lambda: MemoryBackend(apps), feed))


def _run_on_kafka(
    services_dir: Path, bootstrap: str | None, redis_url: str | None, feed: Feed
) -> Run:
    try:
        from tidal.cli.devkafka import KafkaBackend, configure_services
    except ImportError as exc:
        raise ConfigurationError(
            f"tidal dev --kafka needs the kafka and redis extras (pip install 'tidal[all]'): {exc}"
        ) from exc
    from tidal.cli.devstack import local_servers

    with local_servers(bootstrap=bootstrap, redis_url=redis_url) as servers:
        configure_services(servers)  # before the services' settings are read (at import)
        services = discover(services_dir)
        apps = [s.app for s in services if s.app is not None]
        label = f"Kafka at {servers.bootstrap} and Redis at {redact_url(servers.redis_url)}"
        if servers.started:
            label += f" (started {' and '.join(servers.started)} for this run)"
        _banner(feed.console, services, label)
        feed.console.print("joining the consumer groups (one per subscription)...")
        return asyncio.run(_run(services, lambda: KafkaBackend(apps, servers), feed))


def _banner(console: Console, services: list[Service], label: str) -> None:
    names = ", ".join(s.name for s in services)
    console.print(f"tidal dev: {names} on {label}", soft_wrap=True, markup=False)


def _report(console: Console, run: Run) -> None:
    backend = run.backend
    console.print(table(backend.stats, published=backend.published, elapsed=run.elapsed))
    if run.answers:
        console.print(run.answers_line(), soft_wrap=True, markup=False)
    console.print(f"{backend.dead_lettered()} event(s) dead-lettered")
    for letter in run.letters:
        reason = letter.get_extension("tidalerrormessage")
        where = letter.get_extension("tidalsubscriber")
        console.print(
            f"  {where} {letter.type} {letter.id}: {reason}", soft_wrap=True, markup=False
        )


async def _run(services: list[Service], make_backend: Callable[[], Backend], feed: Feed) -> Run:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    backend = make_backend()
    await backend.start()
    run = Run(backend)
    try:
        async with contextlib.AsyncExitStack() as stack:
            sends = _sends(services, run, random.Random(feed.seed), stack)
            with _display(feed.console) as refresh:
                feeding = asyncio.create_task(_feed(sends, feed.limit, feed.rate, stop))
                while not feeding.done():
                    refresh(run)
                    await asyncio.wait({feeding}, timeout=0.5)
                feeding.result()
                await _drain(backend, stop)
                refresh(run)
    finally:
        await backend.close()
    run.letters = await backend.dead_letters()
    return run


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
            sends.append(_poster(client, service.requests(rng), tally))
    if not sends:
        raise ConfigurationError("no service ships demo traffic (demo.py: events or requests)")
    return sends


def _publisher(backend: Backend, stream: Iterator[Event]) -> Send:
    async def send() -> None:
        await backend.publish(next(stream))

    return send


def _poster(client: httpx.AsyncClient, stream: Iterator[object], tally: Counter[int]) -> Send:
    async def send() -> None:
        response = await client.send(next(stream))  # type: ignore[arg-type]
        tally[response.status_code] += 1

    return send


async def _feed(sends: list[Send], limit: int | None, rate: float, stop: asyncio.Event) -> None:
    """Send at ``rate`` per second on a fixed schedule (0: as fast as `IN_FLIGHT` allows), up
    to `IN_FLIGHT` at once, as many producers would; wait for the last answers."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    running: set[asyncio.Task[None]] = set()
    started, sent = time.monotonic(), 0
    while not stop.is_set() and (limit is None or sent < limit):
        await slots.acquire()
        task = asyncio.create_task(sends[sent % len(sends)]())
        running.add(task)
        task.add_done_callback(running.discard)
        task.add_done_callback(lambda _: slots.release())
        sent += 1
        await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()) if rate > 0 else 0)
    await asyncio.gather(*running)


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
def _display(console: Console) -> Iterator[Callable[[Run], None]]:
    if sys.stdout.isatty():
        with Live(console=console, refresh_per_second=4) as live:
            yield lambda run: live.update(_live_view(run))
        return
    last = [0.0]

    def plain(run: Run) -> None:
        if run.elapsed - last[0] >= 2.0:
            last[0] = run.elapsed
            text = line(run.backend.stats, published=run.backend.published)
            console.print(f"{text} | {run.answers_line()}", soft_wrap=True, markup=False)

    yield plain


def _live_view(run: Run) -> Group:
    backend = run.backend
    grid = table(backend.stats, published=backend.published, elapsed=run.elapsed)
    return Group(grid, Text(run.answers_line()))
