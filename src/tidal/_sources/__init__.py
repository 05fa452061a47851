"""Event sources: outside systems' notifications turned into CloudEvents and put on the broker.

- `tidal._sources.s3events`: an S3 event notification (S3 into SQS, or an S3-compatible store's
  webhook such as MinIO's) -> CloudEvents per the CloudEvents AWS S3 adapter (pure, no client);
- `tidal._sources.sqs`: the long-running SQS poller behind ``tidal source s3-sqs`` (boto3);
- `tidal._sources.webhook`: the ASGI endpoint behind ``tidal source s3-webhook`` (starlette).

Each hands its events to a `tidal.Publisher` (``open_publisher``: a Kafka topic or a sink URL)
and acknowledges the notification only after the publisher accepted them.
"""

# internal: reached through ``tidal source``; `tidal.s3_notification_events` is public
__all__: list[str] = []
