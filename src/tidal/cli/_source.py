"""``tidal source``: long-running event sources that put outside notifications on the broker.

- ``tidal source s3-sqs --queue-url URL (--sink URL | --kafka-topic T)``: polls the SQS queue a
  bucket notifies (`tidal._sources.sqs`), what the chart's source Deployment runs (KEDA's
  ``aws-sqs-queue`` scaler scales it on the queue's depth);
- ``tidal source s3-webhook --port P (--sink URL | --kafka-topic T)``: the endpoint an
  S3-compatible store (MinIO) posts its notifications to (`tidal._sources.webhook`).

Both publish through `open_publisher`: ``--sink`` posts to a URL (a Knative Broker's address:
what a SinkBinding sets as ``K_SINK``), ``--kafka-topic`` produces to a topic
(``TIDAL_KAFKA__BOOTSTRAP_SERVERS``). AWS credentials come from boto3's usual chain.
"""

from __future__ import annotations

import asyncio

import click

from tidal._settings import Settings
from tidal._transports.publishers import PublishTransport, open_publisher
from tidal.cli._signals import stop_on_signals

sink_option = click.option(
    "--sink", envvar="K_SINK", help="Post events to this URL (default: $K_SINK, a SinkBinding's)."
)
topic_option = click.option("--kafka-topic", help="Produce events to this Kafka topic.")
bootstrap_option = click.option(
    "--bootstrap-servers", help="Kafka bootstrap (default: TIDAL_KAFKA__BOOTSTRAP_SERVERS)."
)


@click.group()
def source() -> None:
    """Event sources: outside notifications -> CloudEvents on the broker."""


@source.command("s3-sqs")
@click.option("--queue-url", required=True, help="The SQS queue the bucket notifies.")
@click.option("--endpoint-url", help="SQS endpoint (an emulator or a VPC endpoint).")
@click.option("--region", help="AWS region (default: boto3's configuration).")
@sink_option
@topic_option
@bootstrap_option
@click.option("--wait-seconds", type=click.IntRange(0, 20), default=20, show_default=True)
@click.option("--max-messages", type=click.IntRange(1, 10), default=10, show_default=True)
@click.option(
    "--visibility-timeout",
    type=click.IntRange(5, 43200),
    default=60,
    show_default=True,
    help="Seconds a received message stays hidden; publishing must finish within it.",
)
@click.option(
    "--health-port",
    type=int,
    default=8080,
    show_default=True,
    help="Port of the liveness endpoint (503 once no poll has finished for a while); 0: none.",
)
def s3_sqs(
    queue_url: str,
    endpoint_url: str | None,
    region: str | None,
    sink: str | None,
    kafka_topic: str | None,
    bootstrap_servers: str | None,
    wait_seconds: int,
    max_messages: int,
    visibility_timeout: int,
    health_port: int,
) -> None:
    """Poll an SQS queue of S3 notifications; delete each message once its events are accepted."""
    import boto3  # type: ignore[import-untyped]

    from tidal._sources.liveness import Heartbeat, serve_liveness
    from tidal._sources.sqs import SqsOptions, SqsSource

    settings, transport = _publishing(sink, kafka_topic, bootstrap_servers)
    client = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)
    options = SqsOptions(queue_url, wait_seconds, max_messages, visibility_timeout)

    # a poll takes at most wait + visibility seconds; a minute's slack before "stuck"
    heartbeat = Heartbeat(max_age=wait_seconds + visibility_timeout + 60)

    async def main() -> None:
        server = None
        if health_port:
            server = await serve_liveness(heartbeat, host="0.0.0.0", port=health_port)
        async with open_publisher(settings, transport=transport) as publisher:
            await SqsSource(client, publisher, options).run(stop_on_signals(), beat=heartbeat.beat)
        if server is not None:
            server.close()

    asyncio.run(main())


@source.command("s3-webhook")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--token-env", help="Name of an environment variable holding the bearer token.")
@sink_option
@topic_option
@bootstrap_option
def s3_webhook(
    host: str,
    port: int,
    token_env: str | None,
    sink: str | None,
    kafka_topic: str | None,
    bootstrap_servers: str | None,
) -> None:
    """Serve the endpoint an S3-compatible store posts bucket notifications to."""
    import os

    from tidal._sources.webhook import serve_webhook, webhook_app

    settings, transport = _publishing(sink, kafka_topic, bootstrap_servers)
    token = os.environ.get(token_env) if token_env else None
    if token_env and not token:
        raise click.UsageError(f"--token-env {token_env}: the variable is not set")

    async def main() -> None:
        async with open_publisher(settings, transport=transport) as publisher:
            await serve_webhook(webhook_app(publisher, token=token), host=host, port=port)

    asyncio.run(main())


def _publishing(
    sink: str | None, kafka_topic: str | None, bootstrap_servers: str | None
) -> tuple[Settings, PublishTransport]:
    if (sink is None) == (kafka_topic is None):
        raise click.UsageError("give exactly one of --sink URL and --kafka-topic TOPIC")
    settings = Settings()
    if kafka_topic is not None:
        kafka = settings.kafka.model_copy(update={"emit_topic": kafka_topic})
        if bootstrap_servers:
            kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
        return settings.model_copy(update={"kafka": kafka}), "kafka"
    return settings.model_copy(update={"sink": sink}), "http"
