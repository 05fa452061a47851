"""Producing to Kafka: events emitted by handlers, events services publish, retries, dead letters.

`KafkaPublisher` is the publish API for services (``async with KafkaPublisher.connect(settings)
as publisher: await publisher.publish(event, topic="orders")``) and the worker's producer: its
`emit` is the dispatcher's ``emit`` (it returns only once the broker has acknowledged every
event, so the input's offset is committed after its output is durable), and `send_durably`
writes retry and dead-letter records, retrying transient broker errors until it succeeds.

A broker that cannot be reached (a connection error, a request timing out, any retriable error)
is a dependency outage, not a failed attempt: `emit` raises `DependencyUnavailableError`, so the
record is held and its attempt tried again without being counted (`tidal._outcomes.Paused`);
`send_durably` keeps the record it writes until the broker takes it; `publish_many` (a service's
publishing: the gateway) raises the broker's error. Meanwhile the publisher's
`tidal._health.Dependency` (``kafka``) is down: ``/readyz`` and ``tidal_dependency_up`` say so,
until a produce succeeds or its probe (`reachable`: a metadata request) does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from aiokafka.errors import KafkaError, KafkaTimeoutError

from tidal import _health as health
from tidal._bindings.kafka import Mode, headers_to_list, to_record
from tidal._errors import DependencyUnavailableError, PermanentError
from tidal._events import Event
from tidal._settings import KafkaSettings
from tidal._transports.kafka.records import OutgoingRecord
from tidal.kafka._connecting import make_producer

MIN_BACKOFF: Final = 0.1
MAX_BACKOFF: Final = 5.0
KAFKA: Final = "kafka"

log = logging.getLogger("tidal.kafka")


class KafkaPublisher:
    """Produces CloudEvents (binary or structured mode) and raw records with ``acks=all``."""

    def __init__(
        self, producer: Any, *, emit_topic: str | None = None, mode: Mode = "binary"
    ) -> None:
        self.producer = producer
        self.emit_topic = emit_topic
        self.mode: Mode = mode
        self.emitted = 0  # events `emit` has had acknowledged (`tidal dev` counts them)
        self.health = health.dependency(KAFKA, self.reachable)

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> KafkaPublisher:
        return cls(make_producer(settings), emit_topic=settings.emit_topic, mode=settings.emit_mode)

    @classmethod
    @asynccontextmanager
    async def connect(cls, settings: KafkaSettings) -> AsyncIterator[KafkaPublisher]:
        """A started publisher, flushed and closed on exit."""
        publisher = cls.from_settings(settings)
        await publisher.start()
        try:
            yield publisher
        finally:
            await publisher.stop()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, event: Event, *, topic: str | None = None) -> None:
        """Produce one event (keyed by its ``partitionkey``) and wait for the acknowledgement."""
        await self.publish_many([event], topic=topic)

    async def publish_many(self, events: Sequence[Event], *, topic: str | None = None) -> None:
        """Produce events in order and wait until the broker has acknowledged all of them; a
        retriable broker error is raised with the ``kafka`` dependency down."""
        target = topic or self.emit_topic
        if target is None:
            raise PermanentError(
                f"cannot produce {len(events)} event(s): no topic given and no emit topic "
                "configured (TIDAL_KAFKA__EMIT_TOPIC)"
            )
        try:
            await self._produce(events, target)
        except KafkaError as exc:
            if _retriable(exc):
                self.health.down(_failed(len(events), target, exc))
            raise
        self.health.up()

    async def _produce(self, events: Sequence[Event], target: str) -> None:
        pending = []
        for event in events:
            message = to_record(event, mode=self.mode)
            pending.append(
                await self.producer.send(
                    target,
                    value=message.value,
                    key=_key_bytes(message.key),
                    headers=headers_to_list(message.headers),
                )
            )
        if pending:
            await asyncio.gather(*pending)

    async def emit(self, events: Sequence[Event]) -> None:
        """The dispatcher's ``emit``: handler results to the emit topic, acknowledged; a broker
        that cannot be reached is `DependencyUnavailableError` (the attempt pauses)."""
        if not events:
            return
        try:
            await self.publish_many(events)
        except KafkaError as exc:
            if not _retriable(exc):
                raise
            why = _failed(len(events), self.emit_topic, exc)
            raise DependencyUnavailableError(why, dependency=KAFKA) from exc
        self.emitted += len(events)

    async def reachable(self) -> None:
        """Raise unless a broker answers a metadata request: ``/readyz`` probes it while the
        publisher is down (a gateway out of traffic publishes nothing that would find it back)."""
        await self.producer.client.fetch_all_metadata()

    async def send(self, record: OutgoingRecord) -> None:
        """Produce one raw record and wait for the acknowledgement."""
        await self.producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=record.headers
        )

    async def send_durably(self, record: OutgoingRecord) -> None:
        """`send`, retrying retriable broker errors with backoff until it is acknowledged.

        A non-retriable error is raised: a record too large goes back to
        `tidal._transports.kafka.fitting.Outlet`, which shrinks it; anything else (no
        authorisation) stops the worker rather than commit past a record it could neither
        retry nor dead-letter.
        """
        backoff = MIN_BACKOFF
        while True:
            try:
                await self.send(record)
                self.health.up()
                return
            except KafkaError as exc:
                if not _retriable(exc):
                    raise
                self.health.down(f"producing to {record.topic} failed: {exc!r}")
                log.warning(
                    "producing to %s failed, retrying in %.1fs: %r", record.topic, backoff, exc
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


def _key_bytes(key: str | bytes | None) -> bytes | None:
    """The SDK gives the ``partitionkey`` as text; Kafka keys are bytes (UTF-8)."""
    return key.encode("utf-8") if isinstance(key, str) else key


def _failed(count: int, topic: str | None, exc: KafkaError) -> str:
    return f"producing {count} event(s) to {topic} failed: {exc!r}"


def _retriable(exc: KafkaError) -> bool:
    """Transient: the broker may accept the record later (a timeout counts: broker stalled)."""
    return bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
