"""`tidal source s3-sqs`'s poller against moto in server mode: S3 notifies SQS of every upload,
`SqsSource` turns each message into CloudEvents and deletes it only once they are accepted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.objectstore import S3Server
from tests.support.s3notify import NotifiedBucket, RecordingPublisher, sqs_client

from tidal import PermanentError
from tidal._sources.sqs import SqsOptions, SqsSource

pytestmark = pytest.mark.integration
TABLE_RECORDS = Path(__file__).parents[1] / "conformance" / "aws_s3" / "records.json"


def source(bucket: NotifiedBucket, publisher: Any, *, visibility: int = 30) -> SqsSource:
    options = SqsOptions(bucket.queue_url, wait_seconds=1, visibility_timeout=visibility)
    return SqsSource(bucket.sqs, publisher, options)


async def drain(poller: SqsSource, *, polls: int = 10) -> int:
    total = 0
    for _ in range(polls):
        result = await poller.poll_once()
        total += result.published
        if result.received == 0:
            break
    return total


async def test_each_upload_becomes_one_cloudevent_and_its_message_is_deleted(
    uploads: NotifiedBucket,
) -> None:
    keys = ["upload_a.csv", "photos/beach day.jpg", "upload_b+c.csv"]
    for key in keys:
        uploads.s3.put_object(Bucket=uploads.bucket, Key=key, Body=b"x" * len(key))
    publisher = RecordingPublisher()
    assert await drain(source(uploads, publisher)) == 3
    assert sorted(e.subject for e in publisher.events) == sorted(keys)
    event = publisher.events[0]
    assert event.type == "com.amazonaws.s3.ObjectCreated:Put"
    assert event.source == f"aws:s3.us-east-1.{uploads.bucket}"
    assert event.data["s3"]["object"]["size"] == len(event.subject)
    assert uploads.depth() == 0


async def test_a_refused_publish_deletes_nothing_and_the_redelivery_keeps_the_ids(
    uploads: NotifiedBucket,
) -> None:
    uploads.s3.put_object(Bucket=uploads.bucket, Key="upload_x.csv", Body=b"1")
    publisher = RecordingPublisher(refuse=True)
    poller = source(uploads, publisher, visibility=5)
    refused = await poller.poll_once()
    assert (refused.received, refused.left, refused.deleted) == (1, 1, 0)
    assert uploads.depth() == 1
    publisher.refuse = False  # once the visibility timeout passes, the message comes back
    redelivered = await drain_after(poller, seconds=6)
    assert redelivered == 1
    assert [e.key for e in publisher.events] == [e.key for e in publisher.refused]
    assert uploads.depth() == 0
    again = RecordingPublisher()
    assert await drain(source(uploads, again)) == 0


async def drain_after(poller: SqsSource, *, seconds: float) -> int:
    import asyncio

    await asyncio.sleep(seconds)
    return await drain(poller)


async def test_a_message_that_is_no_notification_stays_for_the_queues_redrive(
    uploads: NotifiedBucket,
) -> None:
    uploads.sqs.send_message(QueueUrl=uploads.queue_url, MessageBody="{not json")
    uploads.s3.put_object(Bucket=uploads.bucket, Key="upload_ok.csv", Body=b"1")
    publisher = RecordingPublisher()
    poller = source(uploads, publisher, visibility=30)
    results = [await poller.poll_once() for _ in range(2)]
    assert sum(len(r.rejected) for r in results) == 1
    assert [e.subject for e in publisher.events] == ["upload_ok.csv"]
    assert uploads.depth() == 1  # the bad one, invisible until its timeout, never deleted


async def test_s3s_test_event_and_an_sns_envelope(uploads: NotifiedBucket) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": uploads.bucket}
    uploads.sqs.send_message(QueueUrl=uploads.queue_url, MessageBody=json.dumps(test_event))
    record = json.loads(TABLE_RECORDS.read_text())["records"][0]
    envelope = {"Type": "Notification", "Message": json.dumps({"Records": [record]})}
    uploads.sqs.send_message(QueueUrl=uploads.queue_url, MessageBody=json.dumps(envelope))
    publisher = RecordingPublisher()
    assert await drain(source(uploads, publisher)) == 1
    assert publisher.events[0].id == (
        "C3D13FE58DE4C810.FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
    )
    assert uploads.depth() == 0


def test_the_sqs_client_helper_reaches_the_same_server(aws: S3Server) -> None:
    assert "QueueUrls" not in sqs_client(aws).list_queues(QueueNamePrefix="no-such-queue")


class Refusing:
    async def publish_many(self, events: Any) -> None:
        raise PermanentError("the broker refused the batch")


async def test_a_permanent_refusal_leaves_the_messages_and_the_poller_running(
    uploads: NotifiedBucket,
) -> None:
    uploads.s3.put_object(Bucket=uploads.bucket, Key="upload_p.csv", Body=b"1")
    poller = source(uploads, Refusing(), visibility=30)
    result = await poller.poll_once()
    assert (result.received, result.left, result.deleted) == (1, 1, 0)
    assert uploads.depth() == 1
