"""`tidal dev --kafka`: the services' Apps as Kafka consumer-group workers, in this process.

`dev` runs a `KafkaBackend`: one `KafkaWorker` per App on one topic (a service's App built by its
``app_for(dev_settings(...))`` when it has one: its state in the run's Redis), idempotency
records in Redis, the ingress (the gateway) publishing with a
`KafkaPublisher`. While the consumer groups join it says every few seconds which are still
waiting for partitions; `follow_letters` prints each dead letter as it reaches the dead-letter
topic; `drain` waits until every consumer has caught up; `dead_letters` reads the first letters
back from the dead-letter topic for the summary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from tidal._app import App
from tidal._bindings.kafka import KafkaMessage, from_record, headers_from_list
from tidal._errors import ConfigurationError, DependencyUnavailableError, InvalidEventError
from tidal._events import Event
from tidal._pipeline import Observer
from tidal._redaction import redact_url, scrub
from tidal._settings import IdempotencySettings, KafkaSettings, Settings
from tidal._stats import Stats
from tidal._stores.redis import ping
from tidal._transports.kafka import KafkaPublisher, KafkaWorker
from tidal.cli._devbackends import Backend
from tidal.cli._devstack import Servers
from tidal.cli._devwatch import Activity
from tidal.cli._tail import decode, follow, retry_note
from tidal.kafka import consumer as kafka_consumer
from tidal.kafka import ensure_topics

TOPIC: Final = "tidal-dev.events"
PARTITIONS: Final = 4
QUIET: Final = 1.0  # s without new work before the run counts as drained
PROGRESS: Final = 5.0  # s between "still waiting for the consumer groups" lines


def dev_settings(servers: Servers) -> Settings:
    """One topic for everything (ingress and emitted events), dead letters on ``<topic>.dlq``."""
    kafka = KafkaSettings(
        bootstrap_servers=servers.bootstrap,
        topics=[TOPIC],
        emit_topic=TOPIC,
        dlq_topic=f"{TOPIC}.dlq",
        group_id_prefix="tidal-dev",
        idempotent_producer=False,  # tansu has no InitProducerId; Redis idempotency dedups
        topic_partitions=PARTITIONS,
        commit_interval=0.2,
    )
    idempotency = IdempotencySettings(backend="redis", redis_url=servers.redis_url)
    return Settings(kafka=kafka, idempotency=idempotency, shutdown_grace=5.0)


class KafkaBackend:
    """The dev run's broker side on Kafka: workers for ``apps``, a publisher for the ingress;
    ``watch`` is told of every attempt's outcome (`Activity.success` prints the successes
    after a retry)."""

    def __init__(
        self,
        apps: Sequence[App],
        servers: Servers,
        *,
        progress: Callable[[str], None] | None = None,
        watch: Observer | None = None,
    ) -> None:
        self.progress = progress
        self.fresh = "tansu" in servers.started  # a broker of this run's own: no old letters
        self.settings = dev_settings(servers)
        self.bootstrap = servers.bootstrap
        self.workers = [KafkaWorker(app, self.settings) for app in apps]
        if watch is not None:  # told of every attempt (prints a success after a retry)
            for handler in (h for w in self.workers for m in w.workers for h in m.handlers):
                handler.pipeline.on_attempt(watch)
        self.publisher = KafkaPublisher.from_settings(self.settings.kafka)
        self.count = 0
        self._announcing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check Redis, create the topic, connect the publisher, join every consumer group;
        cancelled (Ctrl-C while a group waits for its partitions), close every client."""
        try:
            await self._start()
        except asyncio.CancelledError:
            await self._close_quietly()
            raise

    async def _start(self) -> None:
        await self._check_redis()
        try:
            await ensure_topics(self.settings.kafka, [TOPIC])
            await self.publisher.start()
        except KafkaError as exc:
            await self._close_quietly()
            raise ConfigurationError(f"Kafka at {self.bootstrap}: {exc!r}") from exc
        results = await self._join()
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self._close_quietly()
            raise ConfigurationError(
                f"Kafka at {self.bootstrap}: a worker did not start: {failures[0]!r}"
            ) from failures[0]

    async def _check_redis(self) -> None:
        """A Redis that does not answer is a start-up error, not a run that handles nothing."""
        url = self.settings.idempotency.redis_url.get_secret_value()
        try:
            await ping(url)
        except DependencyUnavailableError as exc:
            await self._close_quietly()
            raise ConfigurationError(
                f"Redis at {redact_url(url)} does not answer ({scrub(str(exc), url)}): start it, "
                "or give a running one with --redis-url"
            ) from exc

    async def _join(self) -> list[Any]:
        """Start every worker; `_announce` says how the groups' joining goes meanwhile."""
        self._announcing = asyncio.create_task(self._announce())
        return await asyncio.gather(*(w.start() for w in self.workers), return_exceptions=True)

    def _unassigned(self) -> list[str]:
        """The consumer groups whose consumer has no partitions yet."""
        return [
            member.group
            for worker in self.workers
            for member in worker.workers
            if not member.consumer.assignment()
        ]

    async def _announce(self) -> None:
        """Say which groups are joining, every `PROGRESS` s until every one has partitions:
        a new group's members join, then the coordinator assigns (tens of seconds on tansu)."""
        say = self.progress or (lambda _: None)
        started, count = time.monotonic(), len(self._unassigned())
        say(f"joining {count} consumer group(s), one per App: events wait in Kafka")
        last = started
        while waiting := self._unassigned():
            await asyncio.sleep(0.2)
            if time.monotonic() - last >= PROGRESS:
                last = time.monotonic()
                say(
                    f"still waiting for partitions for {len(waiting)} of {count} consumer "
                    f"group(s) after {last - started:.0f}s: {', '.join(waiting)}"
                )
        say(f"all {count} consumer group(s) joined after {time.monotonic() - started:.0f}s")

    async def _close_quietly(self) -> None:
        """After a failed start: close every client, started or not (no warnings at exit)."""
        if self._announcing is not None:
            self._announcing.cancel()
        await asyncio.gather(*(w.stop(grace=0) for w in self.workers), return_exceptions=True)
        await self.publisher.stop()

    async def publish_many(self, events: Sequence[Event]) -> None:
        await self.publisher.publish_many(events)
        self.count += len(events)

    async def publish(self, event: Event) -> None:
        await self.publish_many([event])

    @property
    def published(self) -> int:
        """Events put on the topic: by the ingress and demo streams, and by the handlers (as
        on the memory broker), so each subscription's received + filtered adds up to it."""
        return self.count + sum(worker.publisher.emitted for worker in self.workers)

    @property
    def stats(self) -> Stats:
        """Every worker's counts in one (subscription names differ between the services)."""
        merged = Stats()
        for worker in self.workers:
            merged.counts.update(worker.metrics.stats.counts)
        return merged

    def busy(self) -> bool:
        """Records being handled, or fetched-but-uncommitted, in any subscription."""
        measures = [m for w in self.workers for m in w.metrics.subscriptions.values()]
        return any(m.in_flight or m.lag for m in measures)

    async def drain(self) -> None:
        """Return once no subscription is busy and no count has moved for `QUIET` s."""
        last, since = self.stats.counts.copy(), time.monotonic()
        while True:
            await asyncio.sleep(0.2)
            now = self.stats.counts
            if now != last or self.busy():
                last, since = now.copy(), time.monotonic()
            elif time.monotonic() - since >= QUIET:
                return

    async def close(self) -> None:
        """Stop the workers (drain, commit, leave the groups), then flush the publisher."""
        if self._announcing is not None:
            self._announcing.cancel()
        try:
            await asyncio.gather(*(worker.stop() for worker in self.workers))
        finally:
            await self.publisher.stop()

    def dead_lettered(self) -> int:
        return sum(n for (_, outcome), n in self.stats.counts.items() if outcome == "dead_lettered")

    async def dead_letters(self, limit: int = 5) -> list[Event]:
        """Up to ``limit`` letters from the start of the dead-letter topic."""
        return await read_letters(self.settings.kafka, f"{TOPIC}.dlq", limit=limit)


async def follow_failures(backend: Backend, activity: Activity) -> None:
    """Show each retry and dead letter as it reaches a retry topic or ``<topic>.dlq`` (a
    `devrun.Loop.letters`): the Kafka run's live view of what failed."""
    assert isinstance(backend, KafkaBackend)

    def letter(record: Any) -> None:
        try:
            activity.dead_letter(decode(record))
        except InvalidEventError:
            activity.echo(f"dead-letter  a record that is no CloudEvent at offset {record.offset}")

    def retry(subscription: str) -> Callable[[Any], None]:
        def show(record: Any) -> None:
            try:
                event = decode(record)
            except InvalidEventError:
                return
            note = retry_note(record) or "?"
            activity.echo(f"retry        {subscription}: {event.type} {event.id} {note}")

        return show

    kafka, fresh = backend.settings.kafka, backend.fresh
    follows = [follow(kafka, f"{TOPIC}.dlq", letter, from_beginning=fresh)]
    for worker in backend.workers:
        for handler in (h for member in worker.workers for h in member.handlers):
            name = handler.sub.name
            follows.append(follow(kafka, handler.topics.retry, retry(name), from_beginning=fresh))
    await asyncio.gather(*follows)


async def read_letters(kafka: KafkaSettings, topic: str, *, limit: int) -> list[Event]:
    consumer = kafka_consumer(kafka)
    await consumer.start()
    letters: list[Event] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()  # refresh the metadata once
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 3.0
        while len(letters) < limit and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=limit)
            for record in (r for rs in batch.values() for r in rs):
                message = KafkaMessage(
                    headers=headers_from_list(record.headers), key=record.key, value=record.value
                )
                try:
                    letters.append(from_record(message))
                except InvalidEventError:
                    continue  # a raw record dead-lettered as-is: nothing to show but its bytes
        return letters[:limit]
    finally:
        await consumer.stop()
