"""One consumer group member: fetch, schedule per partition and subscription, commit, rebalance.

`KafkaWorker` runs one `GroupWorker` per consumer group: by default one for the whole App,
whose subscriptions share its consumer; a subscription given a group of its own
(``TIDAL_KAFKA__GROUP_IDS``) gets its own. The consumer reads the source topics and the retry
topic of each of the group's subscriptions. The fetch loop hands records to a `Fanout` per
assigned partition (one `PartitionWork` per subscription reading it, records decoded once
between them) and stops fetching for a partition whose backlog is full (pausing it if it stays
full); a commit loop commits each partition's position every ``commit_interval``; on revoke a
partition's running records get ``revoke_grace`` seconds to end and what is done is committed
before the partition goes to another member; `stop` does the same for every partition
(SIGTERM). Measures (in flight, log-end and committed offsets) are refreshed every half second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from tidal._settings import KafkaSettings
from tidal._transports.kafka.fanout import Fanout
from tidal._transports.kafka.handling import RecordHandler
from tidal._transports.kafka.measures import PartitionMeasures
from tidal._transports.kafka.scheduling import PartitionWork

POLL_TIMEOUT_MS: Final = 200
FULL_POLL_TIMEOUT_MS: Final = 5
PAUSE_AFTER: Final = 1.0
MEASURE_INTERVAL: Final = 0.5
COMMIT_TIMEOUT: Final = 15.0
LOOKUP_TIMEOUT: Final = 2.0

log = logging.getLogger("tidal.kafka")


class GroupWorker:
    """Consumes for the subscriptions of one group until stopped; raises if a record cannot
    be ended."""

    def __init__(
        self,
        *,
        consumer: Any,
        group: str,
        handlers: list[RecordHandler],
        settings: KafkaSettings,
    ) -> None:
        self.consumer = consumer
        self.group = group
        self.handlers = handlers
        self.settings = settings
        self.measures = {h.sub.name: h.measures for h in handlers}
        self._retries = {h.topics.retry: h for h in handlers}
        self.topics = [*handlers[0].topics.sources, *self._retries]
        self.parts: dict[TopicPartition, Fanout] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._unknown: set[TopicPartition] = set()
        self._commit_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._room = asyncio.Event()
        self._paused: set[TopicPartition] = set()
        self._fatal: BaseException | None = None
        self._lookup: asyncio.Task[None] | None = None
        self._stopping = False
        self._measured = 0.0

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()

    async def run(self) -> None:
        """Fetch and dispatch until `stop`; commit in the background."""
        committer = asyncio.create_task(self._commit_loop())
        try:
            while not self._stopping:
                await self._poll()
                if self._fatal is not None:
                    raise self._fatal
        finally:
            background = [t for t in (committer, self._lookup) if t is not None]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    async def _poll(self) -> None:
        ready = self._fetchable()
        if self.parts and not ready:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), POLL_TIMEOUT_MS / 1000)
            return
        # While a partition is full its buffered records stay unread, and aiokafka fetches
        # nothing new from that broker: come back soon to read them once it has room.
        full = len(ready) < len(self.parts)
        try:
            batch = await self.consumer.getmany(
                *ready,
                timeout_ms=FULL_POLL_TIMEOUT_MS if full else POLL_TIMEOUT_MS,
                max_records=self.settings.max_poll_records,
            )
        except KafkaError as exc:
            log.warning("fetch for group %s failed, retrying: %r", self.group, exc)
            await asyncio.sleep(1.0)
            return
        measures = self.measures
        for tp, records in batch.items():
            part = self.parts.get(tp)
            if part is not None:  # a partition revoked meanwhile is dropped: refetched elsewhere
                for name in part.works:
                    measures[name].consumed += len(records)
                part.feed(records)
        await asyncio.sleep(0)  # let the records just started run before fetching more
        if time.monotonic() - self._measured >= MEASURE_INTERVAL:
            self._measure()

    def _fetchable(self) -> list[TopicPartition]:
        """Partitions to fetch for: those with room in their backlog, and paused ones (fetching a
        paused partition makes aiokafka drop what it buffered for it; aiokafka fetches nothing
        more from a broker while any of its partitions' buffers is unread)."""
        ready, now = [], time.monotonic()
        for tp, part in self.parts.items():
            since = part.full_since
            if since is None:
                if tp in self._paused:
                    self._paused.discard(tp)
                    self.consumer.resume(tp)
                ready.append(tp)
            elif tp in self._paused:
                continue
            elif now - since >= PAUSE_AFTER:
                self._paused.add(tp)
                self.consumer.pause(tp)
                ready.append(tp)
        return ready

    def request_stop(self) -> None:
        """Make `run` return after the fetch in progress (at most a poll timeout)."""
        self._stopping = True

    async def stop(self, *, grace: float) -> None:
        """Let running records end (up to ``grace`` s), commit what is done, leave the group.

        Call after `run` has returned (`request_stop`)."""
        self._stopping = True
        parts, self.parts = self.parts, {}
        await asyncio.gather(*(part.close(grace=grace) for part in parts.values()))
        await self._commit(parts, within=COMMIT_TIMEOUT)
        await self.consumer.stop()

    def _fail(self, exc: BaseException) -> None:
        log.error("group %s cannot end a record, stopping: %r", self.group, exc)
        self._fatal = self._fatal or exc

    # -- partitions -------------------------------------------------------------------------

    def _assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            if tp not in self.parts:
                self.parts[tp] = part = self._partition(tp)
                for name in part.works:
                    self.measures[name].partitions[(tp.topic, tp.partition)] = PartitionMeasures()
                self._unknown.add(tp)
        log.info("group %s assigned %s", self.group, _names(assigned))

    def _partition(self, tp: TopicPartition) -> Fanout:
        """The partition's work: the retry topic's subscription's, or every subscription's."""
        owner = self._retries.get(tp.topic)
        readers = self.handlers if owner is None else [owner]
        return Fanout({h.sub.name: self._work(h, retry=owner is not None) for h in readers})

    def _work(self, handler: RecordHandler, *, retry: bool) -> PartitionWork:
        settings = self.settings
        batched = not retry and handler.batches
        return PartitionWork(
            process=handler.process,
            prepare=handler.prepare if batched else None,
            limit=settings.retry_max_held if retry else settings.max_in_flight,
            window=max(settings.max_uncommitted, settings.retry_max_held if retry else 0),
            workers=settings.max_in_flight,
            backlog=settings.max_poll_records,
            ordered=settings.ordered,
            hold=handler.hold if retry else None,
            on_done=self._dirty.set,
            on_room=self._room.set,
            on_error=self._fail,
        )

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        closing = {tp: self.parts.pop(tp) for tp in revoked if tp in self.parts}
        grace = self.settings.revoke_grace
        await asyncio.gather(*(part.close(grace=grace) for part in closing.values()))
        await self._commit(closing, within=COMMIT_TIMEOUT)
        for tp in revoked:
            for measures in self.measures.values():
                measures.partitions.pop((tp.topic, tp.partition), None)
            self._committed.pop(tp, None)
            self._unknown.discard(tp)
            self._paused.discard(tp)
        log.info("group %s revoked %s", self.group, _names(revoked))

    # -- commits and measures ---------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._commit(dict(self.parts), within=COMMIT_TIMEOUT)
            await asyncio.sleep(self.settings.commit_interval)

    async def _commit(self, parts: dict[TopicPartition, Fanout], *, within: float) -> None:
        async with self._commit_lock:
            offsets = {
                tp: position
                for tp, part in parts.items()
                if (position := part.position) is not None
                and position > self._committed.get(tp, -1)
            }
            if not offsets:
                return
            try:
                await asyncio.wait_for(self.consumer.commit(offsets), within)
            except (KafkaError, TimeoutError) as exc:
                log.warning("commit for group %s failed: %r", self.group, exc)
                return
            self._committed.update(offsets)
            for tp in offsets:
                part = parts[tp]
                for name, work in part.works.items():
                    self._done_up_to(name, tp, work)

    def _done_up_to(self, name: str, tp: TopicPartition, work: PartitionWork) -> None:
        """Set the subscription's ``committed`` gauge to its own position on ``tp``: the
        group's committed offset when it alone reads the partition, at or past it when
        others do (the group commits the least of their positions)."""
        gauge = self.measures[name].partitions.get((tp.topic, tp.partition))
        position = work.position
        if gauge is not None and position is not None:
            gauge.committed = position

    def _gauges(self, tp: TopicPartition) -> list[PartitionMeasures]:
        """The partition's measures in each subscription reading it."""
        key = (tp.topic, tp.partition)
        found = (m.partitions.get(key) for m in self.measures.values())
        return [gauge for gauge in found if gauge is not None]

    def _measure(self) -> None:
        self._measured = time.monotonic()
        for tp, part in self.parts.items():
            log_end = self.consumer.highwater(tp)
            shared = len(part.works) > 1
            for name, work in part.works.items():
                gauge = self.measures[name].partitions.get((tp.topic, tp.partition))
                if gauge is None:
                    continue
                gauge.in_flight = work.in_flight
                if log_end is not None:
                    gauge.log_end = log_end
                if shared:  # a subscription ahead of the group's commit shows its own lag
                    self._done_up_to(name, tp, work)
        if self._unknown and (self._lookup is None or self._lookup.done()):
            self._lookup = asyncio.create_task(self._look_up_committed(set(self._unknown)))

    async def _look_up_committed(self, tps: set[TopicPartition]) -> None:
        """Before our first commit of a partition, its lag counts from the group's committed
        offset (in the background: the broker may be slow to answer)."""
        for tp in tps:
            try:
                committed = await asyncio.wait_for(self.consumer.committed(tp), LOOKUP_TIMEOUT)
            except (KafkaError, TimeoutError) as exc:
                log.debug("committed offset of %s unknown for now: %r", tp, exc)
                continue
            self._unknown.discard(tp)
            for gauge in self._gauges(tp):
                if gauge.committed is None:
                    gauge.committed = committed


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance callbacks, forwarded to the worker."""

    def __init__(self, worker: GroupWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.worker._assigned(set(assigned))


def _names(tps: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(tps)) or "nothing"
