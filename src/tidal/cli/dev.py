"""``tidal dev``: every service under ``services/`` on the in-memory transport, fed demo traffic.

Shows a live summary per subscription; stops cleanly on Ctrl-C or after ``--events N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live

from tidal.cli.discovering import Service, discover, interleave
from tidal.cli.summary import line, table
from tidal.errors import ConfigurationError
from tidal.idempotency import Idempotency, MemoryIdempotencyStore
from tidal.transports.memory import MemoryBroker


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
    help="Stop after N demo events (default: run until Ctrl-C).",
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
    console = Console()
    console.print(f"tidal dev: {', '.join(s.name for s in services)} on the memory transport")
    broker, elapsed = asyncio.run(
        _run(services, limit=limit, rate=rate, seed=seed, console=console)
    )
    console.print(table(broker.stats, published=len(broker.published), elapsed=elapsed))
    letters = broker.all_dead_letters()
    console.print(f"{len(letters)} event(s) dead-lettered")
    for letter in letters[:5]:
        reason = letter.get_extension("tidalerrormessage")
        console.print(f"  {letter.type} {letter.id}: {reason}", soft_wrap=True, markup=False)


async def _run(
    services: list[Service], *, limit: int | None, rate: float, seed: int | None, console: Console
) -> tuple[MemoryBroker, float]:
    broker = MemoryBroker(
        [s.app for s in services], idempotency=Idempotency(MemoryIdempotencyStore())
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    with _display(console) as refresh:
        feeding = asyncio.create_task(_feed(broker, services, limit, rate, seed, stop))
        while not feeding.done():
            refresh(broker, time.monotonic() - started)
            await asyncio.wait({feeding}, timeout=0.5)
        await _drain(broker, stop)
        refresh(broker, time.monotonic() - started)
    return broker, time.monotonic() - started


async def _feed(
    broker: MemoryBroker,
    services: list[Service],
    limit: int | None,
    rate: float,
    seed: int | None,
    stop: asyncio.Event,
) -> None:
    stream = interleave(services, random.Random(seed))
    sent = 0
    while not stop.is_set() and (limit is None or sent < limit):
        await broker.publish(next(stream))
        sent += 1
        await asyncio.sleep(1 / rate if rate > 0 else 0)


async def _drain(broker: MemoryBroker, stop: asyncio.Event) -> None:
    """Let in-flight deliveries finish; a second Ctrl-C (or 10 s) cancels them."""
    stop.clear()
    drained = asyncio.create_task(broker.drain())
    await asyncio.wait(
        {drained, asyncio.create_task(stop.wait())},
        timeout=10.0,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if not drained.done():
        await broker.close()
        drained.cancel()


@contextlib.contextmanager
def _display(console: Console):  # type: ignore[no-untyped-def]
    if sys.stdout.isatty():
        with Live(console=console, refresh_per_second=4) as live:
            yield lambda broker, elapsed: live.update(
                table(broker.stats, published=len(broker.published), elapsed=elapsed)
            )
        return
    last = [0.0]

    def plain(broker: MemoryBroker, elapsed: float) -> None:
        if elapsed - last[0] >= 2.0:
            last[0] = elapsed
            console.print(line(broker.stats, published=len(broker.published)))

    yield plain
