"""``tidal dev [module:app ...]``: your own Apps, or every service under ``services/``, locally.

With references (``tidal dev mypkg.handlers:app``) the user's Apps run together on the memory
transport (or ``--kafka``), fed through an HTTP ingress (`tidal.cli._devingress`: POST a
CloudEvent to the printed address, e.g. with ``tidal send``); every delivery, retry and dead
letter (with its ``tidalerror*`` reason) is printed as it happens, above a live table.
``--reload`` restarts the run in a fresh process when a ``.py`` file changes (`devreload`).
Without references the reference services under ``services/`` run, fed with their demo traffic
(`tidal.cli._discovering`), a service with an ingress of its own (the gateway) served in process
so demo traffic takes the production path from HTTP to handler.

By default on the embedded transport (`tidal.cli._devbackends`); ``--kafka`` runs the same on a
Kafka-protocol broker and Redis (a local tansu and redis-server started for the run, or the ones
given with ``--bootstrap-servers`` / ``--redis-url``), each App a consumer-group worker in this
process (`tidal.cli._devkafka`). Stops cleanly on Ctrl-C (or after ``--events N`` of demo
traffic) with a summary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from tidal._errors import ConfigurationError
from tidal._redaction import redact_url
from tidal.cli._devbackends import MemoryBackend
from tidal.cli._devingress import bind
from tidal.cli._devrun import Feed, Loop, Run, run_loop
from tidal.cli._devwatch import Activity
from tidal.cli._discovering import Service, discover, for_run, from_references
from tidal.cli._summary import table


@click.command()
@click.argument("references", nargs=-1)
@click.option(
    "--services",
    "services_dir",
    type=click.Path(path_type=Path),
    default=Path("services"),
    show_default=True,
    help="Without REFERENCES: run every service under this folder, with its demo traffic.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The ingress' address.")
@click.option(
    "--port",
    type=int,
    default=0,
    show_default=True,
    help="The ingress' port (0: a free one; the address is printed at start).",
)
@click.option("--reload", is_flag=True, help="Restart when a .py file under . changes.")
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
    "--log-level",
    default=None,
    help="Log level (default: ERROR for the demo; WARNING with REFERENCES, and INFO for the "
    "handlers' ctx.logger).",
)
def dev(
    references: tuple[str, ...],
    services_dir: Path,
    host: str,
    port: int,
    reload: bool,
    limit: int | None,
    rate: float,
    seed: int | None,
    kafka: bool,
    bootstrap_servers: str | None,
    redis_url: str | None,
    log_level: str | None,
) -> None:
    """Run your Apps (REFERENCES, e.g. mypkg.handlers:app) or the services/ demo locally."""
    if not kafka and (bootstrap_servers or redis_url):
        raise click.UsageError("--bootstrap-servers and --redis-url go with --kafka")
    if references and (limit is not None or seed is not None):
        raise click.UsageError("--events and --seed drive the services/ demo, not your Apps")
    try:
        sock = bind(host, port)
        if reload:
            from tidal.cli._devreload import supervise

            bound = sock.getsockname()[1]  # port 0: the one just picked, kept across runs
            sock.close()  # each run binds it
            raise SystemExit(supervise(sys.argv[1:], port=bound))
        console = Console() if sys.stdout.isatty() else Console(width=120)  # logs: whole lines
        _logging(log_level, console, mine=bool(references))
        feed = Feed(limit=limit, rate=rate, seed=seed, console=console)
        if kafka:
            run = _run_on_kafka(references, services_dir, bootstrap_servers, redis_url, feed, sock)
        else:
            run = _run_in_memory(references, services_dir, feed, sock)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(console, run)


def _logging(level: str | None, console: Console, *, mine: bool) -> None:
    """Logs go to stderr; on a terminal through ``console``, above the live table."""
    default = "WARNING" if mine else "ERROR"
    handlers = [_ConsoleHandler(console)] if sys.stdout.isatty() else None
    logging.basicConfig(
        level=(level or default).upper(),
        format="%(levelname)s %(name)s %(message)s",
        handlers=handlers,
    )
    if mine and level is None:
        logging.getLogger("tidal.app").setLevel(logging.INFO)  # ctx.logger: your handlers


class _ConsoleHandler(logging.Handler):
    """A log line printed by rich, so it does not tear the live table."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.console.print(text, soft_wrap=True, markup=False, highlight=False)


def _services(references: tuple[str, ...], services_dir: Path) -> list[Service]:
    return from_references(references) if references else discover(services_dir)


def _echo(console: Console) -> Callable[[str], None]:
    def echo(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    return echo


def _run_in_memory(
    references: tuple[str, ...], services_dir: Path, feed: Feed, sock: socket.socket
) -> Run:
    services = _services(references, services_dir)
    _banner(feed.console, services, MemoryBackend.label)
    apps = [s.app for s in services if s.app is not None]
    activity = Activity(_echo(feed.console), handled=bool(references))
    loop = Loop(
        services=services,
        make_backend=lambda: MemoryBackend(apps, watch=activity.watch),
        feed=feed,
        activity=activity,
        ingress=sock,
        demo=not references,
    )
    return asyncio.run(run_loop(loop))


def _run_on_kafka(
    references: tuple[str, ...],
    services_dir: Path,
    bootstrap: str | None,
    redis_url: str | None,
    feed: Feed,
    sock: socket.socket,
) -> Run:
    try:
        from tidal.cli._devkafka import KafkaBackend, dev_settings, follow_failures
    except ImportError as exc:
        raise ConfigurationError(
            f"tidal dev --kafka needs the kafka and redis extras (pip install 'tidal[all]'): {exc}"
        ) from exc
    from tidal.cli._devstack import local_servers

    with local_servers(bootstrap=bootstrap, redis_url=redis_url) as servers:
        services = for_run(_services(references, services_dir), dev_settings(servers))
        apps = [s.app for s in services if s.app is not None]
        label = f"Kafka at {servers.bootstrap} and Redis at {redact_url(servers.redis_url)}"
        if servers.started:
            label += f" (started {' and '.join(servers.started)} for this run)"
        _banner(feed.console, services, label)
        echo = _echo(feed.console)
        activity = Activity(echo, handled=bool(references))
        loop = Loop(
            services=services,
            make_backend=lambda: KafkaBackend(apps, servers, progress=echo, watch=activity.success),
            feed=feed,
            activity=activity,
            ingress=sock,
            demo=not references,
            letters=follow_failures,
        )
        return asyncio.run(run_loop(loop))


def _banner(console: Console, services: list[Service], label: str) -> None:
    names = ", ".join(s.name for s in services)
    console.print(f"tidal dev: {names} on {label}", soft_wrap=True, markup=False)
    lines = []
    for service in services:
        for sub in service.app.subscriptions if service.app is not None else ():
            policy = sub.policy
            lines.append(
                f"  {service.name}/{sub.name}: filters {json.dumps(list(sub.filters))}, "
                f"{policy.max_attempts} attempt(s), dead letters to "
                f"{policy.dead_letter or 'the run'}"
            )
    for text in lines:
        console.print(text, soft_wrap=True, markup=False, highlight=False)


def _report(console: Console, run: Run) -> None:
    backend = run.backend
    console.print(table(backend.stats, published=backend.published, elapsed=run.elapsed))
    if run.answers:
        console.print(run.answers_line(), soft_wrap=True, markup=False)
        for text in run.refusal_lines():
            console.print(text, soft_wrap=True, markup=False, highlight=False)
    console.print(f"{backend.dead_lettered()} event(s) dead-lettered")
    for letter in run.letters:
        reason = letter.get_extension("tidalerrormessage")
        where = letter.get_extension("tidalsubscriber")
        console.print(
            f"  {where} {letter.type} {letter.id}: {reason}", soft_wrap=True, markup=False
        )
