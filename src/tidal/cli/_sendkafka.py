"""``tidal send --kafka BOOTSTRAP --topic T``: produce one CloudEvent to Kafka; `send` calls it.

The event goes through tidal's own `KafkaPublisher` (the Kafka protocol binding, key from its
``partitionkey``, ``acks=all``), with the connection and security settings of
``TIDAL_KAFKA__*`` and the bootstrap servers given. One event needs no idempotent producer, so
none is asked for (some Kafka-protocol brokers, tansu among them, have no InitProducerId).
"""

from __future__ import annotations

import asyncio

import click
from aiokafka.errors import KafkaError

from tidal._bindings.kafka import Mode
from tidal._events import Event
from tidal._settings import KafkaSettings, Settings
from tidal._transports.kafka import KafkaPublisher


def produce(event: Event, *, bootstrap: str, topic: str, mode: str) -> str:
    """Produce ``event`` to ``topic``; the line to print once the broker has acknowledged it."""
    try:
        kafka = Settings().kafka.model_copy(
            update={"bootstrap_servers": bootstrap, "idempotent_producer": False}
        )
    except ValueError as exc:
        raise click.ClickException(f"Kafka settings: {exc}") from exc
    record_mode: Mode = "structured" if mode == "structured" else "binary"
    try:
        asyncio.run(_produce(kafka, event, topic, record_mode))
    except (KafkaError, OSError) as exc:
        raise click.ClickException(f"could not produce to {topic} at {bootstrap}: {exc!r}") from exc
    return f"produced to {topic} at {bootstrap} in {mode} mode (event id {event.id})"


async def _produce(kafka: KafkaSettings, event: Event, topic: str, mode: Mode) -> None:
    publisher = KafkaPublisher.from_settings(kafka)  # aiokafka wants a running loop
    publisher.mode = mode
    try:
        await publisher.start()
        await publisher.publish(event, topic=topic)
    finally:
        await publisher.stop()
