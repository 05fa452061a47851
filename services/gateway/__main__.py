"""``python -m services.gateway``: serve the gateway under uvicorn, publishing to the broker.

``GATEWAY_TRANSPORT=kafka`` (default) produces to ``TIDAL_KAFKA__EMIT_TOPIC`` on
``TIDAL_KAFKA__BOOTSTRAP_SERVERS``; ``http`` posts to ``K_SINK`` (a Knative Broker's address,
set by a SinkBinding). Listens on ``PORT``. On SIGTERM ``/readyz`` turns 503 and in-flight
requests finish (up to ``TIDAL_SHUTDOWN_GRACE`` seconds) before the publisher is flushed.
Observability as in ``tidal run``: JSON log lines, tracing from ``OTEL_*``, ``/metrics``, and the
cold start counted once the server listens; the service is ``TIDAL_SERVICE`` or ``gateway``.
"""

from __future__ import annotations

from collections.abc import Callable

from services.gateway.api import SERVICE, create_gateway
from services.gateway.settings import GatewaySettings
from tidal import Settings, open_publisher, run_on_fastest_loop, serve_asgi
from tidal.observability import setup


async def serve(
    gateway: GatewaySettings,
    settings: Settings,
    *,
    service: str,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve the gateway (`tidal.serve_asgi`) until a shutdown signal; ``ready`` runs once it
    listens (the cold start), readiness turns off when the signal arrives."""
    async with open_publisher(settings, transport=gateway.transport) as publisher:
        app = create_gateway(
            publisher, gateway, service=service, metrics=settings.observability.metrics
        )

        def stopping() -> None:
            app.state.ready = False

        await serve_asgi(app, settings, ready=ready, stopping=stopping)


def main() -> None:
    """Serve on uvloop when it is installed (uvicorn[standard] brings it)."""
    settings = Settings()
    observed = setup(settings, service=settings.service or SERVICE)
    run_on_fastest_loop(
        serve(GatewaySettings(), settings, service=observed.service, ready=observed.ready)
    )


if __name__ == "__main__":
    main()
