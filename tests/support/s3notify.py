"""S3 bucket notifications to SQS on moto's server, as S3 is configured in production, and a
publisher that records what it accepts and can be told to refuse.

`notified_bucket` creates a bucket and a queue and has the bucket send every object-created
event to the queue (moto's S3 puts the notification into its SQS, in the same server process).
Used by tests/sources and tests/services/test_files_end_to_end.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped]
from tests.support.objectstore import CREDENTIALS, S3Server

from tidal import Event, RetryableError


def sqs_client(server: S3Server) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass(frozen=True)
class NotifiedBucket:
    """A bucket notifying a queue of every object created outside ``processed/``."""

    bucket: str
    queue_url: str
    s3: Any
    sqs: Any

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def notified_bucket(server: S3Server, *, prefix: str = "uploads") -> NotifiedBucket:
    s3, sqs = server.client(), sqs_client(server)
    bucket = server.new_bucket(prefix)
    queue_url = sqs.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    sqs.purge_queue(QueueUrl=queue_url)  # S3's s3:TestEvent on configuration (moto sends it too)
    return NotifiedBucket(bucket, queue_url, s3, sqs)


@dataclass
class RecordingPublisher:
    """Accepts events into ``events``; refuses (RetryableError) while ``refuse`` is set."""

    events: list[Event] = field(default_factory=list)
    refused: list[Event] = field(default_factory=list)
    refuse: bool = False

    async def publish_many(self, events: Sequence[Event]) -> None:
        if self.refuse:
            self.refused.extend(events)
            raise RetryableError("sink down")
        self.events.extend(events)
