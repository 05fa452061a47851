"""The Kafka worker: an App's subscriptions consuming in one group (or a few), one producer.

`tidal run --transport kafka module:app` calls `run` (uvloop when installed), whose `run_worker`
runs a `KafkaWorker` until SIGTERM / SIGINT and then drains: running records get
``shutdown_grace`` seconds, what is done is committed, the consumers leave their groups and the
producer flushes. Tests and services embed a worker directly::

    async with KafkaWorker(app, settings) as worker:
        ...  # worker.metrics.snapshot() shows what it has done
"""

from __future__ import annotations

import asyncio
import logging
import signal

from tidal._app import App, Subscription
from tidal._dispatching import Dispatcher
from tidal._idempotency.guard import Idempotency
from tidal._lifecycle import Service
from tidal._settings import Settings
from tidal._stores.factory import make_idempotency
from tidal._transports.kafka.claims import PayloadStore
from tidal._transports.kafka.consuming import GroupWorker
from tidal._transports.kafka.fitting import Outlet
from tidal._transports.kafka.handling import RecordHandler
from tidal._transports.kafka.measures import KafkaMetrics, SubscriptionMeasures
from tidal._transports.kafka.names import app_topics
from tidal._transports.kafka.producing import KafkaPublisher
from tidal._transports.loops import run_on_fastest_loop
from tidal.kafka._connecting import make_consumer
from tidal.kafka._provisioning import ensure_topics, message_limit
from tidal.observability import Source, mark_ready, register, unregister

log = logging.getLogger("tidal.kafka")


class KafkaWorker(Service):
    """Consumes for every subscription of ``app``; `start`, then `wait` and/or `stop`."""

    def __init__(
        self,
        app: App,
        settings: Settings,
        *,
        idempotency: Idempotency | None = None,
        claims: PayloadStore | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.service = settings.service or app.name
        self.metrics = KafkaMetrics()
        self.idempotency = idempotency or make_idempotency(settings.idempotency, coalesce=True)
        self.dispatcher = Dispatcher(app, idempotency=self.idempotency, stats=self.metrics.stats)
        self.topics = app_topics(app, settings.kafka)
        self.publisher = KafkaPublisher.from_settings(settings.kafka)
        self.outlet = Outlet(self.publisher, limit=settings.kafka.max_request_size, claims=claims)
        self.workers = self._group_workers()
        self._tasks: list[asyncio.Task[None]] = []
        self.source = register(  # /metrics exports it while this worker lives
            self,
            Source(
                service=self.service,
                transport="kafka",
                stats=self.metrics.stats,
                consumer=self.metrics,
            ),
        )

    def _group_workers(self) -> list[GroupWorker]:
        """One member per consumer group, serving the subscriptions in it."""
        groups: dict[str, list[RecordHandler]] = {}
        for sub in self.app.subscriptions:
            handler = self._handler(sub)
            groups.setdefault(handler.topics.group, []).append(handler)
        return [
            GroupWorker(
                consumer=make_consumer(self.settings.kafka, group=group),
                group=group,
                handlers=handlers,
                settings=self.settings.kafka,
            )
            for group, handlers in groups.items()
        ]

    def _handler(self, sub: Subscription) -> RecordHandler:
        topics = self.topics[sub.name]
        measures = SubscriptionMeasures(group=topics.group)
        self.metrics.subscriptions[sub.name] = measures
        return RecordHandler(
            sub=sub,
            dispatcher=self.dispatcher,
            publisher=self.publisher,
            topics=topics,
            measures=measures,
            outlet=self.outlet,
            reports_invalid=sub.name == reporter(self.app),
        )

    async def start(self) -> None:
        """Connect, create missing retry / dead-letter topics, join every group."""
        try:
            await self.publisher.start()
            if self.settings.kafka.create_topics:
                await ensure_topics(self.settings.kafka, self._own_topics())
            await self._limit_records()
            await _start_all(self.workers)
        except BaseException:
            for worker in self.workers:  # started or not: none is left unclosed
                await worker.consumer.stop()
            await self._close_clients()
            raise
        self._tasks = [asyncio.create_task(worker.run()) for worker in self.workers]
        mark_ready(self.service)  # tidal_cold_start_seconds: every consumer started
        log.info(
            "app %s consuming %s: %s",
            self.app.name,
            ", ".join(self.settings.kafka.topics),
            "; ".join(
                f"group {w.group}: {', '.join(h.sub.name for h in w.handlers)}"
                for w in self.workers
            ),
        )

    async def _limit_records(self) -> None:
        """Check the claim-check store; learn the retry and DLQ topics' size limit."""
        if self.outlet.claims is not None:
            await self.outlet.claims.check()
        topic_limit = await message_limit(self.settings.kafka, self._own_topics())
        if topic_limit is not None:
            self.outlet.limit = min(self.outlet.limit, topic_limit)

    def _own_topics(self) -> list[str]:
        return [
            topic
            for worker in self.workers
            for h in worker.handlers
            for topic in (h.topics.retry, *h.topics.dlqs())
        ]

    async def wait(self) -> None:
        """Return when a subscription's consumer stops by itself; raise why it stopped."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()

    async def stop(self, *, grace: float | None = None) -> None:
        """Drain (``grace`` s, default ``shutdown_grace``), commit, leave the groups, flush."""
        grace = self.settings.shutdown_grace if grace is None else grace
        for worker in self.workers:
            worker.request_stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.gather(*(worker.stop(grace=grace) for worker in self.workers))
        finally:
            unregister(self.source)
            await self._close_clients()

    async def _close_clients(self) -> None:
        await self.publisher.stop()
        if self.idempotency is not None:
            await self.idempotency.close()


async def _start_all(workers: list[GroupWorker]) -> None:
    """Start every group's consumer at once: each start waits for its group's assignment (a
    join takes seconds), so one after another, 50 groups took minutes to their first event.
    The first failure cancels the starts still running and is raised."""
    starts = [asyncio.ensure_future(worker.start()) for worker in workers]
    try:
        await asyncio.gather(*starts)
    except BaseException:
        for start in starts:
            start.cancel()
        await asyncio.gather(*starts, return_exceptions=True)
        raise


def reporter(app: App) -> str:
    """The subscription that dead-letters the App's source records that are not CloudEvents
    (the first by name): every subscription reads them, one letter is enough."""
    return min(sub.name for sub in app.subscriptions)


async def run_worker(app: App, settings: Settings, *, claims: PayloadStore | None = None) -> None:
    """Run ``app`` as a Kafka worker until SIGTERM / SIGINT (then drain) or a fatal error."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = KafkaWorker(app, settings, claims=claims)
    await worker.start()
    stopping = asyncio.create_task(stop.wait())
    failing = asyncio.create_task(worker.wait())
    await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
    log.info("app %s stopping: draining in-flight records, committing", app.name)
    stopping.cancel()
    await worker.stop()
    if failing.done():
        failing.result()
    failing.cancel()


def run(app: App, settings: Settings, *, claims: PayloadStore | None = None) -> None:
    """`run_worker` on uvloop when it is installed, else on asyncio's own loop."""
    run_on_fastest_loop(run_worker(app, settings, claims=claims))
