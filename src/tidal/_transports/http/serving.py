"""Serving an App over HTTP under uvicorn with a graceful SIGTERM; `tidal run` calls `serve`.

On SIGTERM ``/readyz`` turns 503, the listener closes, and in-flight events finish (up to
``shutdown_grace`` seconds) before the process exits. The receiver's counts are registered with
`tidal.observability` and served at ``/metrics``; the process counts as ready (cold start) once
uvicorn listens. `serve_asgi` is the same server for any ASGI app (public as
`tidal.serve_asgi`: the reference gateway serves its FastAPI ingress with it).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from tidal._app import App
from tidal._dispatching import Dispatcher, Emit
from tidal._idempotency.guard import Idempotency
from tidal._settings import Settings
from tidal._stores.factory import make_idempotency
from tidal._transports.http.asgi import Receiver, SinkFactory, create_asgi_app
from tidal._transports.http.deadlines import deadline_protocol
from tidal._transports.ingress import ASGIApp
from tidal._transports.loops import run_on_fastest_loop
from tidal.observability import Source, exposition, mark_ready, register

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("tidal.http")


class _Server(uvicorn.Server):
    """uvicorn's server, calling ``ready`` once it listens and ``stopping`` the moment a
    shutdown signal arrives (before the listener closes: readiness turns off first)."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        ready: Callable[[], None] | None,
        stopping: Callable[[], None] | None,
    ) -> None:
        super().__init__(config)
        self._ready, self._stopping = ready, stopping

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._ready is not None:
            self._ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stopping is not None:
            self._stopping()
        log.info("signal %s: finishing in-flight requests, then exiting", sig)
        super().handle_exit(sig, frame)


async def serve_asgi(
    asgi: ASGIApp,
    settings: Settings,
    *,
    ready: Callable[[], None] | None = None,
    stopping: Callable[[], None] | None = None,
) -> None:
    """`tidal.serve_asgi`: ``asgi`` under uvicorn until a shutdown signal, with the header and
    body deadlines of `deadlines`. Logs go to the root logger's handlers when the process
    configured logging (`tidal.observability.setup`), else to uvicorn's own."""
    config = uvicorn.Config(
        asgi,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None if _root_configured() else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        http=deadline_protocol(head=settings.header_timeout, body=settings.body_timeout),
    )
    await _Server(config, ready=ready, stopping=stopping).serve()


def build_receiver(
    app: App,
    settings: Settings,
    *,
    session: aiohttp.ClientSession | None,
    idempotency: Idempotency | None,
) -> Receiver:
    """Wire the dispatcher to ``K_SINK`` and the dead-letter sinks over ``session`` (None
    when the App sends nowhere: `_sink_session`)."""
    emit, dead_letter_sink = _sinks(session, settings.sink)
    receiver = Receiver(
        dispatcher=Dispatcher(app, idempotency=idempotency),
        max_body_bytes=settings.max_body_bytes,
        emit=emit,
        dead_letter_sink=dead_letter_sink,
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


def _sinks(
    session: aiohttp.ClientSession | None, k_sink: str | None
) -> tuple[Emit | None, SinkFactory | None]:
    """Where emitted events (``K_SINK``) and dead letters (a URL each) go over ``session``."""
    if session is None:
        return None, None
    from tidal._transports.http.sinks import DEAD_LETTER_SINK, HttpSink

    letters: dict[str, HttpSink] = {}  # one per URL: each reports its health while it lives

    def dead_letter_sink(url: str) -> Emit:
        sink = letters.get(url)
        if sink is None:
            sink = letters[url] = HttpSink(session, url, dependency=DEAD_LETTER_SINK)
        return sink.send

    return (HttpSink(session, k_sink).send if k_sink else None), dead_letter_sink


async def serve(app: App, settings: Settings) -> None:
    """Run the HTTP transport until a shutdown signal, then drain."""
    idempotency = make_idempotency(settings.idempotency)
    async with _sink_session(app, settings) as session:
        receiver = build_receiver(app, settings, session=session, idempotency=idempotency)

        @asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            yield
            if idempotency is not None:
                await idempotency.close()

        def stopping() -> None:
            receiver.ready = False

        await serve_asgi(
            create_asgi_app(receiver, lifespan=lifespan),
            settings,
            ready=lambda: mark_ready(receiver.service),
            stopping=stopping,
        )


def _sink_session(
    app: App, settings: Settings
) -> AbstractAsyncContextManager[aiohttp.ClientSession | None]:
    """An HTTP client session when the App sends anywhere (``K_SINK``, a subscription's
    dead-letter sink), else none: aiohttp is imported only then (cold start)."""
    if not settings.sink and not any(s.policy.dead_letter for s in app.subscriptions):
        return nullcontext(None)
    from tidal._transports.http.sinks import open_session

    return open_session()


def _root_configured() -> bool:
    """Whether the process configured logging (`tidal.observability.setup`): then uvicorn's
    records go to the root logger's handlers (JSON) instead of uvicorn's own."""
    return bool(logging.getLogger().handlers)


def run(app: App, settings: Settings) -> None:
    """Serve on uvloop when it is installed (the ``http`` extra brings it), else asyncio's loop."""
    run_on_fastest_loop(serve(app, settings))
