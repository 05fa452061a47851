"""Serving an ingress (any ASGI app) the way ``tidal run`` serves an App over HTTP.

Public as `tidal.serve_asgi` and `tidal.run_on_fastest_loop`: a service that turns requests
into events (the reference gateway, ``python -m services.gateway``) serves its own ASGI app with
tidal's server (header and body deadlines, graceful SIGTERM, readiness, cold start) instead of
re-implementing it. uvicorn (the ``http`` extra) is imported only when `serve_asgi` runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tidal._settings import Settings
from tidal._transports.loops import run_on_fastest_loop

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
"""An ASGI application: ``await app(scope, receive, send)``."""

__all__ = ["ASGIApp", "run_on_fastest_loop", "serve_asgi"]


async def serve_asgi(
    asgi: ASGIApp,
    settings: Settings,
    *,
    ready: Callable[[], None] | None = None,
    stopping: Callable[[], None] | None = None,
) -> None:
    """Serve ``asgi`` under uvicorn until a shutdown signal (SIGTERM, SIGINT).

    Listens on ``TIDAL_HOST:TIDAL_PORT`` with the header and body deadlines
    (``TIDAL_HEADER_TIMEOUT`` / ``TIDAL_BODY_TIMEOUT``: a slow client gets 408). ``ready`` runs
    once the socket listens (pass ``Observability.ready`` from `tidal.observability.setup` to
    count the cold start); on a shutdown signal ``stopping`` runs first (turn ``/readyz`` off),
    then the listener closes and in-flight requests get ``TIDAL_SHUTDOWN_GRACE`` seconds.
    """
    from tidal._transports.http.serving import serve_asgi as serve

    await serve(asgi, settings, ready=ready, stopping=stopping)
