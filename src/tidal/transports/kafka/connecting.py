"""Building aiokafka clients from `KafkaSettings`: consumers, the producer and the admin client.

`KafkaWorker` and `KafkaPublisher` call these, so every client shares one set of connection and
security options and the consumer settings that tidal's commit discipline depends on (no
auto-commit: the worker commits what it has finished, itself). Importing it installs
`tidal.transports.kafka.compat` (a request on a connection the broker closed is a connection
error on uvloop too).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from tidal.settings import KafkaSettings
from tidal.transports.kafka import compat

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


def make_consumer(settings: KafkaSettings, *, group: str) -> AIOKafkaConsumer:
    """A consumer in ``group`` that never commits by itself."""
    return AIOKafkaConsumer(
        **client_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset=settings.auto_offset_reset,
        max_poll_records=settings.max_poll_records,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        rebalance_timeout_ms=settings.max_poll_interval_ms,
    )


def make_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica (and is idempotent when enabled)."""
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
        max_request_size=settings.max_request_size,
    )


def make_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings))
