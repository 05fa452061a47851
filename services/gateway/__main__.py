"""``python -m services.gateway``: serve the gateway under uvicorn, publishing to the broker.

``GATEWAY_TRANSPORT=kafka`` (default) produces to ``TIDAL_KAFKA__EMIT_TOPIC`` on
``TIDAL_KAFKA__BOOTSTRAP_SERVERS``; ``http`` posts to ``K_SINK`` (a Knative Broker's address,
set by a SinkBinding). Listens on ``PORT``. On SIGTERM ``/readyz`` turns 503 and in-flight
requests finish (up to ``TIDAL_SHUTDOWN_GRACE`` seconds) before the publisher is flushed.
"""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn
from fastapi import FastAPI

from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from tidal import Settings, open_publisher
from tidal.transports.loops import run_on_fastest_loop


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.state.ready = False
        super().handle_exit(sig, frame)


async def serve(gateway: GatewaySettings, settings: Settings) -> None:
    async with open_publisher(settings, transport=gateway.transport) as publisher:
        app = create_gateway(publisher, gateway)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace),
        )
        await _Server(config, app).serve()


def main() -> None:
    """Serve on uvloop when it is installed (uvicorn[standard] brings it)."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper())
    run_on_fastest_loop(serve(GatewaySettings(), settings))


if __name__ == "__main__":
    main()
