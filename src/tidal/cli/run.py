"""``tidal run module:app``: serve one App over HTTP (Knative), or consume Kafka (KEDA).

``--transport kafka`` runs the App as a consumer-group worker (`tidal.transports.kafka`).
"""

from __future__ import annotations

import sys

import click

from tidal.errors import ConfigurationError
from tidal.loading import load_app
from tidal.settings import Settings


@click.command()
@click.argument("reference")
@click.option("--host", default=None, help="Bind address (default TIDAL_HOST or 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port (default PORT / TIDAL_PORT or 8080).")
@click.option(
    "--transport", type=click.Choice(["http", "kafka"]), default="http", show_default=True
)
def run(reference: str, host: str | None, port: int | None, transport: str) -> None:
    """Serve (http) or consume for (kafka) the App at REFERENCE (``package.module:app``)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    sys.path.insert(0, ".")
    try:
        app = load_app(reference)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    from tidal.observability import setup as observe

    observe(settings, service=settings.service or app.name, metrics_listener=transport == "kafka")
    if transport == "kafka":
        from tidal.transports.kafka.running import run as consume_kafka

        consume_kafka(app, settings)
        return
    from tidal.transports.http.serving import run as serve_http

    serve_http(app, settings)
