"""Serving an App over HTTP under uvicorn with a graceful SIGTERM; `tidal run` calls `serve`.

On SIGTERM ``/readyz`` turns 503, the listener closes, and in-flight events finish (up to
``shutdown_grace`` seconds) before the process exits. The receiver's counts are registered with
`tidal.observability` and served at ``/metrics``; the process counts as ready (cold start) once
uvicorn listens.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import aiohttp
import uvicorn

from tidal.app import App
from tidal.dispatching import Dispatcher, Emit
from tidal.idempotency import Idempotency
from tidal.observability import Source, exposition, mark_ready, register
from tidal.settings import Settings
from tidal.stores.factory import make_idempotency
from tidal.transports.http.server import Receiver, create_asgi_app
from tidal.transports.http.sinks import HttpSink, open_session
from tidal.transports.loops import run_on_fastest_loop

log = logging.getLogger("tidal.http")


class _Server(uvicorn.Server):
    """uvicorn's server, flipping readiness off the moment a shutdown signal arrives."""

    def __init__(self, config: uvicorn.Config, receiver: Receiver) -> None:
        super().__init__(config)
        self.receiver = receiver

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            mark_ready(self.receiver.service)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.receiver.ready = False
        log.info("signal %s: finishing in-flight events, then exiting", sig)
        super().handle_exit(sig, frame)


def build_receiver(
    app: App,
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    idempotency: Idempotency | None,
) -> Receiver:
    """Wire the dispatcher to ``K_SINK`` and the dead-letter sinks over ``session``."""
    emit: Emit | None = HttpSink(session, settings.sink).send if settings.sink else None
    receiver = Receiver(
        dispatcher=Dispatcher(app, idempotency=idempotency),
        max_body_bytes=settings.max_body_bytes,
        emit=emit,
        dead_letter_sink=lambda url: HttpSink(session, url).send,
        service=settings.service or app.name,
        metrics=exposition() if settings.observability.metrics else None,
    )
    source = Source(
        service=receiver.service,
        transport="http",
        stats=receiver.dispatcher.stats,
        http_statuses=receiver.statuses,
    )
    register(receiver, source)
    return receiver


async def serve(app: App, settings: Settings) -> None:
    """Run the HTTP transport until a shutdown signal, then drain."""
    idempotency = make_idempotency(settings.idempotency)
    async with open_session() as session:
        receiver = build_receiver(app, settings, session=session, idempotency=idempotency)

        @asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            yield
            close = getattr(idempotency.store if idempotency else None, "close", None)
            if close is not None:
                await close()

        config = uvicorn.Config(
            create_asgi_app(receiver, lifespan=lifespan),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None if _root_configured() else uvicorn.config.LOGGING_CONFIG,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace),
        )
        await _Server(config, receiver).serve()


def _root_configured() -> bool:
    """Whether the process configured logging (`tidal.observability.setup`): then uvicorn's
    records go to the root logger's handlers (JSON) instead of uvicorn's own."""
    return bool(logging.getLogger().handlers)


def run(app: App, settings: Settings) -> None:
    """Serve on uvloop when it is installed (the ``http`` extra brings it), else asyncio's loop."""
    run_on_fastest_loop(serve(app, settings))
