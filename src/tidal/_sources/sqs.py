"""The SQS poller behind ``tidal source s3-sqs``: S3 notifications in a queue -> CloudEvents.

S3 sends a bucket's event notifications to an SQS queue (and KEDA's ``aws-sqs-queue`` scaler
scales this poller on that queue's depth). `SqsSource.poll_once` long-polls one batch
(``WaitTimeSeconds``), maps every message to CloudEvents (`tidal._sources.s3events`), hands
them to the `Publisher` and deletes the messages only after the publisher accepted them: a
crash or a refused publish leaves them in the queue, visible again once their visibility
timeout passes (no loss; the redelivery maps to the same ids, which downstream dedupes).
Publishing must finish within the visibility timeout less a margin, or the batch is left for
redelivery rather than deleted after another poller may have received it again.

A message that is not an S3 notification is never deleted here: it goes back to the queue and,
after the queue's ``maxReceiveCount``, to the queue's own dead-letter queue (its redrive policy),
with an error logged naming the message. S3's ``s3:TestEvent`` is deleted without an event; an
SNS envelope (S3 -> SNS -> SQS) is unwrapped. boto3 is synchronous: each call runs in a thread.
Called by `tidal.cli._source`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tidal._errors import InvalidEventError, RetryableError
from tidal._events import Event
from tidal._publishing import Publisher
from tidal._sources.s3events import parse_notification

LOGGER: Final = logging.getLogger("tidal.sources.sqs")
MARGIN_SECONDS: Final = 2.0


@dataclass(frozen=True)
class SqsOptions:
    """How the poller reads its queue."""

    queue_url: str
    wait_seconds: int = 20  # long polling: SQS's maximum
    max_messages: int = 10  # SQS's maximum per ReceiveMessage
    visibility_timeout: int = 60


@dataclass
class PollResult:
    """What one poll did, message by message."""

    received: int = 0
    published: int = 0  # events accepted by the publisher
    deleted: int = 0
    rejected: list[str] = field(default_factory=list)  # ids of messages that are not notifications
    left: int = 0  # valid messages left in the queue (publish refused or too slow)


class SqsSource:
    """Polls one queue and publishes what it reads; ``client`` is a boto3 SQS client."""

    def __init__(self, client: Any, publisher: Publisher, options: SqsOptions) -> None:
        self._client = client
        self._publisher = publisher
        self.options = options

    async def run(self, stop: asyncio.Event, *, beat: Callable[[], None] = lambda: None) -> None:
        """Poll until ``stop`` is set, calling ``beat`` after each poll (a liveness heartbeat);
        a failing poll is logged and retried after a second."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except RetryableError as exc:
                LOGGER.warning("sqs poll failed, retrying: %s", exc)
                await asyncio.sleep(1.0)
            beat()

    async def poll_once(self) -> PollResult:
        started = time.monotonic()
        messages = await self._receive()
        result = PollResult(received=len(messages))
        events, done = self._decode(messages, result)
        if not done:
            return result
        budget = self.options.visibility_timeout - MARGIN_SECONDS - (time.monotonic() - started)
        try:
            async with asyncio.timeout(max(budget, 0.0)):
                await self._publisher.publish_many(events)
        except (RetryableError, TimeoutError) as exc:
            LOGGER.warning("publish refused, %d messages left for redelivery: %r", len(done), exc)
            result.left = len(done)
            return result
        except Exception:  # refused for good (a PermanentError...): the queue's redrive decides
            LOGGER.exception("publish failed, %d messages left for the redrive policy", len(done))
            result.left = len(done)
            return result
        result.published = len(events)
        result.deleted = await self._delete(done)
        return result

    def _decode(
        self, messages: Sequence[dict[str, Any]], result: PollResult
    ) -> tuple[list[Event], list[dict[str, Any]]]:
        events: list[Event] = []
        done: list[dict[str, Any]] = []
        for message in messages:
            try:
                events.extend(parse_notification(_unwrap_sns(message["Body"])))
            except InvalidEventError as exc:
                identifier = message["MessageId"]
                LOGGER.error("sqs message %s is not an S3 notification: %s", identifier, exc)
                result.rejected.append(identifier)
                continue
            done.append(message)
        return events, done

    async def _receive(self) -> list[dict[str, Any]]:
        try:
            response = await asyncio.to_thread(
                self._client.receive_message,
                QueueUrl=self.options.queue_url,
                MaxNumberOfMessages=self.options.max_messages,
                WaitTimeSeconds=self.options.wait_seconds,
                VisibilityTimeout=self.options.visibility_timeout,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except Exception as exc:  # botocore's errors: the queue is unreachable or refuses
            raise RetryableError(f"sqs receive failed: {exc}") from exc
        return list(response.get("Messages", []))

    async def _delete(self, messages: Sequence[dict[str, Any]]) -> int:
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ]
        try:
            response = await asyncio.to_thread(
                self._client.delete_message_batch, QueueUrl=self.options.queue_url, Entries=entries
            )
        except Exception as exc:  # published but not deleted: redelivered and deduped downstream
            LOGGER.warning("sqs delete failed (messages will be redelivered): %s", exc)
            return 0
        for failure in response.get("Failed", []):
            LOGGER.warning("sqs delete failed for entry %s: %s", failure["Id"], failure)
        return len(response.get("Successful", []))


def _unwrap_sns(body: str) -> str:
    """The S3 notification inside an SNS envelope (S3 -> SNS -> SQS), else ``body``."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return body
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
        message = envelope.get("Message")
        if isinstance(message, str):
            return message
    return body
