"""``tidal run module:app``: serve one App over HTTP (Knative), or consume Kafka (KEDA).

``--transport kafka`` runs the App as a consumer-group worker (`tidal._transports.kafka`).
Before serving it logs each subscription with its filters, warns about an App without any and
about ``TIDAL_*`` variables no setting reads; a bad setting, reference or unreachable server is
one ``Error:`` line naming what to change (`tidal.cli._environment`, `tidal.cli._failures`), and
so is a subscription declaring several ``emits=`` types over HTTP without ``K_SINK``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

import click

from tidal._app import App, Subscription
from tidal._errors import ConfigurationError
from tidal._loading import load_app
from tidal._pools import default_size
from tidal._settings import Settings
from tidal.cli._environment import load_settings, misspelt
from tidal.cli._failures import explain

log = logging.getLogger("tidal.run")


@click.command()
@click.argument("reference")
@click.option("--host", default=None, help="Bind address (default TIDAL_HOST or 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port (default PORT / TIDAL_PORT or 8080).")
@click.option(
    "--transport", type=click.Choice(["http", "kafka"]), default="http", show_default=True
)
def run(reference: str, host: str | None, port: int | None, transport: str) -> None:
    """Serve (http) or consume for (kafka) the App at REFERENCE: ``package.module:app`` or a
    file, ``./handlers.py[:app]``."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(os.environ, **overrides)
    sys.path.insert(0, ".")
    try:
        app = load_app(reference)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    if transport == "http":
        check_replies(app, settings)
    from tidal.observability import setup as observe

    try:
        observe(
            settings, service=settings.service or app.name, metrics_listener=transport == "kafka"
        )
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in misspelt(os.environ):
        log.warning(warning)
    default_size(settings.sync_threads)
    announce(app, transport)
    try:
        check_redis(settings)
        _serve(app, settings, transport)
    except Exception as exc:
        message = explain(exc, settings)
        if message is None:
            raise
        raise click.ClickException(message) from None


def check_redis(settings: Settings, *, timeout: float = 5.0) -> None:
    """With the Redis idempotency backend, ping it before taking events: a Redis that does not
    answer is a start-up error, not a 503 for every event."""
    if settings.idempotency.backend != "redis":
        return
    from tidal._stores.redis import RedisIdempotencyStore

    async def ping() -> None:
        store = RedisIdempotencyStore.from_url(settings.idempotency.redis_url.get_secret_value())
        try:
            await asyncio.wait_for(store.client.ping(), timeout)
        finally:
            await store.close()

    try:
        asyncio.run(ping())
    except TimeoutError:
        raise click.ClickException(
            f"Redis did not answer within {timeout:g}s: check TIDAL_IDEMPOTENCY__REDIS_URL"
        ) from None


def check_replies(app: App, settings: Settings) -> None:
    """Over HTTP without ``K_SINK`` the response carries the one reply a Broker reads: a
    handler annotated to return several events (``-> list[Event]``, any sequence or iterable
    of them) is a start-up error, not a 422 per event. One declared ``emits=`` type or several
    alternatives (``-> Event | None``) are fine: each delivery still replies once."""
    if settings.sink:
        return
    for sub in app.subscriptions:
        if _returns_several(sub.handler):
            types = ", ".join(e.type for e in sub.emits) or "events"
            raise click.ClickException(
                f"subscription {sub.name!r} returns several events ({types}) but K_SINK is "
                "unset: a Broker reads one reply event per delivery, so set K_SINK (a "
                "SinkBinding to the Broker; the chart makes one) or return one event"
            )


def _returns_several(handler: Callable[..., Any]) -> bool:
    """Whether ``handler``'s return annotation is a collection (list, sequence, iterable...)."""
    try:
        annotation = inspect.signature(handler, eval_str=True).return_annotation
    except (NameError, TypeError, ValueError):  # an annotation that does not resolve: unknown
        return False
    origins = {typing.get_origin(arm) or arm for arm in _arms(annotation)}
    return any(
        isinstance(o, type) and issubclass(o, Iterable) and not issubclass(o, str | bytes | dict)
        for o in origins
    )


def _arms(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of a union annotation (``X | None``), else the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _serve(app: App, settings: Settings, transport: str) -> None:
    if transport == "kafka":
        from tidal._transports.kafka.claims import claims_from_settings
        from tidal._transports.kafka.running import run as consume_kafka

        consume_kafka(app, settings, claims=claims_from_settings(settings.kafka.claim_check))
        return
    from tidal._transports.http.serving import run as serve_http

    serve_http(app, settings)


def announce(app: App, transport: str) -> None:
    """Log what the App subscribes to, one line per subscription; warn when it is nothing."""
    if not app.subscriptions:
        log.warning(
            "app %s has no subscriptions: it will receive nothing (add handlers with @app.on)",
            app.name,
        )
        return
    log.info("app %s (%s): %d subscription(s)", app.name, transport, len(app.subscriptions))
    for sub in app.subscriptions:
        log.info("  %s: %s", sub.name, describe(sub), extra={"subscription": sub.name})


def describe(sub: Subscription) -> str:
    """A subscription's filters and content pattern in one line (``every event`` without)."""
    parts = [json.dumps(f, separators=(",", ":"), default=str) for f in sub.filters]
    if sub.data_pattern is not None:
        parts.append("data " + json.dumps(sub.data_pattern, separators=(",", ":"), default=str))
    return " and ".join(parts) or "every event"
