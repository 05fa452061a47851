"""One record, one subscription, one attempt: decode, filter, dispatch, then route the outcome.

`PartitionWork` calls `RecordHandler.process` for every record it runs, and `hold` to learn how
long a retry record must wait. When ``process`` returns the record has ended, and its offset may
be committed:

- handled (the dispatcher awaited the producer's acknowledgement of emitted events), or
  filtered out;
- failed but retryable: re-produced to the subscription's retry topic with its attempt count and
  due time (`tidal.transports.kafka.retries`), acknowledged;
- failed for good, or not a CloudEvent at all: produced to the dead-letter topic with the
  failure extensions (`tidal.transports.kafka.letters`), acknowledged.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from tidal.app import Subscription
from tidal.bindings.kafka import KafkaMessage, from_record, headers_from_list
from tidal.deadletters import Failure
from tidal.dispatching import Dispatcher, Failed, Retry
from tidal.errors import InvalidEventError
from tidal.events import Event
from tidal.transports.kafka.letters import event_letter, invalid_letter
from tidal.transports.kafka.measures import SubscriptionMeasures
from tidal.transports.kafka.names import SubscriptionTopics
from tidal.transports.kafka.producing import KafkaPublisher
from tidal.transports.kafka.records import ConsumedRecord, Origin
from tidal.transports.kafka.retries import NOT_BEFORE, RetryState, retry_record

log = logging.getLogger("tidal.kafka")


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
    ) -> None:
        self.sub = sub
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.topics = topics
        self.measures = measures
        self._subscriber = f"{dispatcher.app.name}/{sub.name}"

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

    async def process(self, record: ConsumedRecord) -> None:
        """Take ``record`` to one of its ends (handled, retry topic, dead-letter topic)."""
        headers = headers_from_list(record.headers)
        try:
            retry = RetryState.from_headers(headers) if record.topic == self.topics.retry else None
            message = KafkaMessage(headers=headers, key=record.key, value=record.value or b"")
            event = from_record(message)
        except InvalidEventError as exc:
            await self._reject(record, exc)
            return
        if retry is None:
            try:
                wanted = self.sub.matches(event)
            except Exception as exc:  # a filter that cannot judge this event: undeliverable
                await self._dead_letter(record, event, self._failure(exc), Origin.of(record))
                return
            self.dispatcher.stats.bump(self.sub.name, "received" if wanted else "filtered")
            if not wanted:
                return
        await self._attempt(record, event, retry)

    async def _attempt(
        self, record: ConsumedRecord, event: Event, retry: RetryState | None
    ) -> None:
        attempt = 1 if retry is None else retry.attempts + 1
        started = time.perf_counter()
        outcome = await self.dispatcher.attempt(
            self.sub,
            event,
            attempt=attempt,
            first_failure=None if retry is None else retry.first_failure,
            emit=self.publisher.emit,
        )
        self.measures.latency.observe(time.perf_counter() - started)
        origin = Origin.of(record) if retry is None else retry.origin
        if isinstance(outcome, Retry):
            await self._retry(record, outcome, attempt, retry, origin)
        elif isinstance(outcome, Failed):
            await self._dead_letter(record, event, outcome.failure, origin)

    async def _dead_letter(
        self, record: ConsumedRecord, event: Event, failure: Failure, origin: Origin
    ) -> None:
        topic = self.topics.dlq(origin.topic)
        await self.publisher.send_durably(
            event_letter(record, event, failure, topic=topic, origin=origin)
        )
        self.dispatcher.stats.bump(self.sub.name, "dead_lettered")

    async def _retry(
        self,
        record: ConsumedRecord,
        outcome: Retry,
        attempt: int,
        retry: RetryState | None,
        origin: Origin,
    ) -> None:
        state = RetryState(
            attempts=attempt,
            not_before=outcome.failed_at + timedelta(seconds=outcome.delay),
            first_failure=outcome.failed_at if retry is None else retry.first_failure,
            origin=origin,
        )
        await self.publisher.send_durably(
            retry_record(record, topic=self.topics.retry, state=state, error=outcome.error)
        )

    async def _reject(self, record: ConsumedRecord, exc: InvalidEventError) -> None:
        """A record that is not a CloudEvent (or a mangled retry record): dead-letter it now."""
        self.measures.invalid += 1
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
        await self.publisher.send_durably(letter)
        self.dispatcher.stats.bump(self.sub.name, "dead_lettered")

    def _failure(self, exc: Exception) -> Failure:
        """A failure of the first attempt, for what is dead-lettered before any handler ran."""
        now = self.dispatcher.clock.now()
        return Failure.from_exception(
            exc, attempts=1, first_failure=now, last_failure=now, subscriber=self._subscriber
        )
