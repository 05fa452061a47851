"""``python -m services.gateway``: serve the gateway under uvicorn, publishing to the broker.

``GATEWAY_TRANSPORT=kafka`` (default) produces to ``TIDAL_KAFKA__EMIT_TOPIC`` on
``TIDAL_KAFKA__BOOTSTRAP_SERVERS``; ``http`` posts to ``K_SINK`` (a Knative Broker's address,
set by a SinkBinding). Listens on ``PORT``. On SIGTERM ``/readyz`` turns 503 and in-flight
requests finish (up to ``TIDAL_SHUTDOWN_GRACE`` seconds) before the publisher is flushed.
Observability as in ``tidal run``: JSON log lines, tracing from ``OTEL_*``, ``/metrics``, and the
cold start counted once the server listens; the service is ``TIDAL_SERVICE`` or ``gateway``.
"""

from __future__ import annotations

import socket
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from services.gateway.api import SERVICE, create_gateway
from services.gateway.settings import GatewaySettings
from tidal import Settings, open_publisher
from tidal.observability import setup
from tidal.transports.http.deadlines import deadline_protocol
from tidal.transports.loops import run_on_fastest_loop

if TYPE_CHECKING:
    from tidal.observability.wiring import Observability


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, observed: Observability) -> None:
        super().__init__(config)
        self.app = app
        self.observed = observed

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.observed.ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.state.ready = False
        super().handle_exit(sig, frame)


async def serve(gateway: GatewaySettings, settings: Settings, observed: Observability) -> None:
    async with open_publisher(settings, transport=gateway.transport) as publisher:
        app = create_gateway(
            publisher,
            gateway,
            service=observed.service,
            metrics=settings.observability.metrics,
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # `setup` configured logging: uvicorn's records go there too
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace),
            http=deadline_protocol(head=settings.header_timeout, body=settings.body_timeout),
        )
        await _Server(config, app, observed).serve()


def main() -> None:
    """Serve on uvloop when it is installed (uvicorn[standard] brings it)."""
    settings = Settings()
    observed = setup(settings, service=settings.service or SERVICE)
    run_on_fastest_loop(serve(GatewaySettings(), settings, observed))


if __name__ == "__main__":
    main()
