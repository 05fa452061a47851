"""One record of one subscription: decode it, hand it to the core, route its outcome.

`PartitionWork` calls `RecordHandler.process` for every record it runs, and `hold` to learn how
long a retry record must wait. Matching, counting and the attempt are the shared core's
(`tidal._pipeline.Pipeline`); this module decodes and routes. When ``process`` returns the
record has ended, and its offset may be committed:

- handled (the core awaited the producer's acknowledgement of emitted events), or filtered out;
- failed but retryable: re-produced to the subscription's retry topic with its attempt count and
  due time (`tidal._transports.kafka.retries`), acknowledged;
- failed for good, or not a CloudEvent at all: produced to the dead-letter topic with the
  failure extensions (`tidal._transports.kafka.letters`), acknowledged; an event's dead letter
  is then recorded in the idempotency store (`Dispatcher.dead_lettered`, by the core and by
  `retry` for a retry record too large to produce), so the record redelivered after a crash
  before its commit is not dead-lettered again. A source record that is not a CloudEvent is
  the same for every subscription, so only the App's reporting subscription
  (``reports_invalid``) dead-letters it; the others count it and skip it;
- paused (a dependency such as the idempotency store is down): the record is held, not
  acknowledged, and tried again at the same attempt once ``Paused.delay`` has passed; while
  held it keeps its slot, so the partition stops admitting records and, once its backlog is
  full, the consumer stops fetching it.

On an idempotent subscription whose store is across the network (``batches``: Redis),
`PartitionWork` first hands its ready records to `prepare`, which decodes and filters them and
claims all their idempotency keys in one store call (`Dispatcher.claim_many`, the batch claim
step: each claim waits there for its event's attempt); each record's `Prepared` job then
continues from there. A record `prepare` cannot judge (not a CloudEvent, a filter error, a
retry record) takes ``process``. The in-process store has no round trip to share: its records
take ``process``, whose attempt claims the key on `Idempotency.run`'s fast path (no `Record`,
`Claim` or job per record: with many subscriptions, fewer objects for the collector to walk).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tidal._app import Subscription
from tidal._bindings.kafka import KafkaMessage, from_record, headers_from_list
from tidal._deadletters import Failure, failure_extensions
from tidal._dispatching import Dispatcher
from tidal._errors import InvalidEventError
from tidal._events import Event
from tidal._idempotency.copies import RUN_HEADER, mark_rerun
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal._outcomes import Failed, Paused, Retry
from tidal._pipeline import Pipeline
from tidal._transports.kafka.fitting import Outlet
from tidal._transports.kafka.letters import event_letter, invalid_letter, origin_extensions
from tidal._transports.kafka.measures import SubscriptionMeasures
from tidal._transports.kafka.names import SubscriptionTopics
from tidal._transports.kafka.producing import KafkaPublisher
from tidal._transports.kafka.records import ConsumedRecord, Origin
from tidal._transports.kafka.retries import NOT_BEFORE, RetryState, retry_record
from tidal._transports.kafka.shared import decoded

log = logging.getLogger("tidal.kafka")

At = tuple[ConsumedRecord, RetryState | None]
"""The route's handle on an event: its record, and the retry state a retry record carried."""


class RecordHandler:
    """Delivers records of one subscription's topics to its handler."""

    def __init__(
        self,
        *,
        sub: Subscription,
        dispatcher: Dispatcher,
        publisher: KafkaPublisher,
        topics: SubscriptionTopics,
        measures: SubscriptionMeasures,
        outlet: Outlet,
        reports_invalid: bool = True,
    ) -> None:
        self.sub = sub
        self.outlet = outlet
        self.reports_invalid = reports_invalid
        self.dispatcher = dispatcher
        self.pipeline = Pipeline(dispatcher, transport="kafka", emit=publisher.emit)
        self.publisher = publisher
        self.topics = topics
        self.measures = measures
        self._subscriber = f"{dispatcher.app.name}/{sub.name}"
        idempotency = dispatcher.idempotency
        # the batch claim step (`prepare`) saves a round trip per record; the in-process store
        # has none to save, and `Idempotency.run` takes it on its cheaper fast path per record
        self.batches = dispatcher.guards(sub) and (
            idempotency is None or type(idempotency.store) is not MemoryIdempotencyStore
        )

    def hold(self, record: ConsumedRecord) -> float:
        """Seconds until ``record`` is due: zero except for retry records waiting for backoff."""
        if record.topic != self.topics.retry:
            return 0.0
        for name, value in record.headers:
            if name == NOT_BEFORE:
                try:
                    due = int(value) / 1000
                except ValueError:
                    return 0.0
                return max(0.0, due - self.dispatcher.clock.now().timestamp())
        return 0.0

    # -- decode -----------------------------------------------------------------------------

    async def prepare(self, records: list[ConsumedRecord]) -> list[Prepared | None]:
        """Decode and filter ``records`` and claim the idempotency keys of those to handle, in
        one store call; a store failure leaves them unclaimed (their attempts meet it again)."""
        jobs = [self._peek(record) for record in records]
        claiming = [job for job in jobs if job is not None and job.wanted]
        if not claiming or not self.dispatcher.guards(self.sub):
            return jobs
        try:
            await self.dispatcher.claim_many(self.sub, [job.event for job in claiming])
        except Exception as exc:
            log.warning("claiming %d events of %s failed: %r", len(claiming), self._subscriber, exc)
            return jobs
        for job in claiming:
            job.claimed = True
        return jobs

    def _peek(self, record: ConsumedRecord) -> Prepared | None:
        """``record`` decoded and filtered; None for what `process` must judge itself (retry
        records, records that are not CloudEvents, filter errors)."""
        if record.topic == self.topics.retry or self.outlet.claimed(record):
            return None
        try:
            event = decoded(record)
            wanted = self.sub.matches(event)
        except Exception:  # `process` meets it again and dead-letters the record
            return None
        return Prepared(self, record, event, wanted)

    async def process(self, record: ConsumedRecord) -> None:
        """Take ``record`` to one of its ends (handled, retry topic, dead-letter topic)."""
        if record.topic == self.topics.retry:
            await self._process_retry(record)
            return
        try:
            if self.outlet.claimed(record):  # a re-driven dead letter whose value was stored
                record = await self.outlet.restore(record)
            event = decoded(record)
        except InvalidEventError as exc:
            await self._reject(record, exc)
            return
        try:
            wanted = self.pipeline.admit(self.sub, event)
        except Exception as exc:  # a filter that cannot judge this event: undeliverable
            await self._send_letter(record, event, self._failure(exc), Origin.of(record))
            self.pipeline.dead_lettered(self.sub, event)
            return
        if wanted:
            await self.pipeline.deliver(self, (record, None), self.sub, event)

    async def _process_retry(self, record: ConsumedRecord) -> None:
        """A record of the retry topic: its retry state and event, attempted again."""
        try:
            record = await self.outlet.restore(record)  # a claim-checked value comes back
            headers = headers_from_list(record.headers)
            retry = RetryState.from_headers(headers)
            message = KafkaMessage(headers=headers, key=record.key, value=record.value or b"")
            event = from_record(message)
            if RUN_HEADER in headers:  # a run's copy going round the retry topic
                mark_rerun(event)
        except InvalidEventError as exc:
            await self._reject(record, exc)
            return
        await self.pipeline.deliver(
            self,
            (record, retry),
            self.sub,
            event,
            attempt=retry.attempts + 1,
            first_failure=retry.first_failure,
        )

    async def first(self, record: ConsumedRecord, event: Event, *, wanted: bool) -> None:
        """A decoded record from a source topic (`Prepared`): count it, deliver it if the
        filter wants it, as `process` does."""
        if self.pipeline.counted(self.sub, event, wanted):
            await self.pipeline.deliver(self, (record, None), self.sub, event)

    # -- route (`tidal._pipeline.Route`) -----------------------------------------------------

    async def retry(self, at: At, sub: Subscription, event: Event, outcome: Retry) -> bool:
        """Re-produce the record to the retry topic with its next attempt's state (the
        attempt as the idempotency store counted it, where it does)."""
        record, retry = at
        attempt = outcome.attempt
        state = RetryState(
            attempts=attempt,
            not_before=outcome.failed_at + timedelta(seconds=outcome.delay),
            first_failure=outcome.failed_at if retry is None else retry.first_failure,
            origin=Origin.of(record) if retry is None else retry.origin,
        )
        too_large = await self.outlet.retry(
            retry_record(record, topic=self.topics.retry, state=state, error=outcome.error)
        )
        if too_large is not None:  # dead-lettered now rather than never retried
            failure = self._failure(outcome.error, attempts=attempt, first=state.first_failure)
            failure = replace(failure, error_class="RecordTooLarge", message=too_large)
            await self._send_letter(record, event, failure, state.origin)
            await self.dispatcher.dead_lettered(sub, event)
            self.pipeline.dead_lettered(sub, event)
        return False

    async def dead_letter(self, at: At, sub: Subscription, event: Event, outcome: Failed) -> bool:
        """Produce the dead letter (the core then records it in the idempotency store: a
        redelivery of the record, killed before its offset was committed, finds it there)."""
        record, retry = at
        origin = Origin.of(record) if retry is None else retry.origin
        await self._send_letter(record, event, outcome.failure, origin)
        return True

    async def paused(self, at: At, sub: Subscription, event: Event, outcome: Paused) -> bool:
        """Hold the record (its slot stays taken, so intake stops) and try it again."""
        await self.dispatcher.clock.sleep(outcome.delay)
        return True

    async def _send_letter(
        self, record: ConsumedRecord, event: Event, failure: Failure, origin: Origin
    ) -> None:
        topic = self.topics.dlq(origin.topic)
        letter = event_letter(record, event, failure, topic=topic, origin=origin)
        await self.outlet.dead_letter(letter, _extensions(failure, origin))

    async def _reject(self, record: ConsumedRecord, exc: InvalidEventError) -> None:
        """A record that is not a CloudEvent (or a mangled retry record): dead-letter it now,
        if this subscription reports the App's invalid source records."""
        self.measures.invalid += 1
        if not self.reports_invalid and record.topic != self.topics.retry:
            log.debug("skipping record %s/%d@%d: %s", *_place(record), exc)
            return
        failure, origin = self._failure(exc), Origin.of(record)
        log.warning(
            "dead-lettering record %s/%d@%d of %s: %s",
            record.topic,
            record.partition,
            record.offset,
            self._subscriber,
            exc,
        )
        letter = invalid_letter(record, failure, topic=self.topics.dlq(origin.topic), origin=origin)
        await self.outlet.dead_letter(letter, _extensions(failure, origin))
        self.pipeline.dead_lettered(self.sub)

    def _failure(
        self, exc: BaseException, *, attempts: int = 1, first: datetime | None = None
    ) -> Failure:
        """A failure the worker itself dead-letters: before any handler ran (the first
        attempt), or a retry record too large to produce (``attempts`` so far)."""
        now = self.dispatcher.clock.now()
        return Failure.from_exception(
            exc,
            attempts=attempts,
            first_failure=first or now,
            last_failure=now,
            subscriber=self._subscriber,
        )


def _place(record: ConsumedRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def _extensions(failure: Failure, origin: Origin) -> dict[str, Any]:
    return failure_extensions(failure, extra=origin_extensions(origin))


@dataclass(slots=True)
class Prepared:
    """A record `RecordHandler.prepare` decoded and filtered, ``claimed`` if the batch claim
    step holds its key (the `tidal._transports.kafka.scheduling.Job` its partition runs)."""

    handler: RecordHandler
    record: ConsumedRecord
    event: Event
    wanted: bool
    claimed: bool = False

    async def run(self) -> None:
        await self.handler.first(self.record, self.event, wanted=self.wanted)

    async def abandon(self) -> None:
        """Release a claimed key, so the member that gets the record next need not wait."""
        if self.claimed:
            await self.handler.dispatcher.release(self.handler.sub, self.event)
