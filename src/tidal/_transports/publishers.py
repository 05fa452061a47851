"""Opening the `Publisher` a process's settings ask for: a Kafka topic or the ``K_SINK`` URL.

An ingress service (the reference gateway) calls `open_publisher` once at start-up and publishes
through what it yields until shutdown, when the Kafka producer is flushed or the HTTP client
closed. The transport's client library is imported only when that transport is chosen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from tidal._errors import ConfigurationError
from tidal._publishing import Publisher, SinkPublisher
from tidal._settings import Settings

PublishTransport = Literal["kafka", "http"]


@asynccontextmanager
async def open_publisher(
    settings: Settings, *, transport: PublishTransport
) -> AsyncIterator[Publisher]:
    """A started publisher: ``kafka`` produces to ``TIDAL_KAFKA__EMIT_TOPIC`` (acks=all);
    ``http`` posts binary-mode events to ``K_SINK`` over a pooled aiohttp session (up to 256
    kept-alive connections: reconnecting per request halves throughput). Closed (flushed)
    on exit."""
    if transport == "kafka":
        if not settings.kafka.emit_topic:
            raise ConfigurationError("publishing to Kafka needs TIDAL_KAFKA__EMIT_TOPIC")
        from tidal._transports.kafka import KafkaPublisher

        async with KafkaPublisher.connect(settings.kafka) as producer:
            yield producer
        return
    if transport == "http":
        if not settings.sink:
            raise ConfigurationError("publishing over HTTP needs K_SINK (or TIDAL_SINK)")
        from tidal._transports.http.sinks import HttpSink, open_session

        async with open_session() as session:
            yield SinkPublisher(HttpSink(session, settings.sink).send)
        return
    raise ConfigurationError(f"unknown publishing transport {transport!r}: kafka or http")
