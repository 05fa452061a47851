"""Building aiokafka clients from `KafkaSettings`: consumers, producers and the admin client.

The one place tidal builds Kafka clients: `KafkaWorker` and `KafkaPublisher` call
`make_consumer` / `make_producer` (the consumer settings tidal's commit discipline depends on:
no auto-commit, the worker commits what it has finished, itself); the data plane, ``tidal tail``
and topic provisioning call `consumer`, `producer` and `admin`. Every client shares one set of
connection and security options (`client_options`). Importing it installs
`tidal.kafka._compat` (a request on a connection the broker closed is a connection error on
uvloop too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from tidal._settings import KafkaSettings
from tidal.kafka import _compat as compat

compat.install()


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security options every client takes."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context()
    if settings.sasl_mechanism is not None:
        password = settings.sasl_password
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=None if password is None else password.get_secret_value(),
        )
    return options


def consumer(settings: KafkaSettings, **options: Any) -> AIOKafkaConsumer:
    """A consumer that never commits by itself; ``options`` are aiokafka's (``group_id``,
    ``auto_offset_reset``, ...)."""
    return AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False, **options)


def producer(settings: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica; aiokafka keeps one batch in flight per
    partition, so records of one partition are written in the order they were sent."""
    return AIOKafkaProducer(**client_options(settings), acks="all", **options)


def make_consumer(settings: KafkaSettings, *, group: str) -> AIOKafkaConsumer:
    """The worker's consumer in ``group``, tuned by the settings."""
    return consumer(
        settings,
        group_id=group,
        auto_offset_reset=settings.auto_offset_reset,
        max_poll_records=settings.max_poll_records,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        rebalance_timeout_ms=settings.max_poll_interval_ms,
    )


def make_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """The worker's and publisher's producer (idempotent when enabled)."""
    return producer(
        settings,
        enable_idempotence=settings.idempotent_producer,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
        max_request_size=settings.max_request_size,
    )


def make_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings))


@asynccontextmanager
async def admin(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out (a failed start closes it too)."""
    client = make_admin(settings)
    try:
        await client.start()
        yield client
    finally:
        with suppress(Exception):  # closing a client that never connected
            await client.close()
