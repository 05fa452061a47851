"""`tidal source s3-sqs`'s Kafka mode: the poller publishes through `open_publisher` to a topic
of the suite's Kafka-protocol broker (tansu); each record is keyed by the object key (the
``partitionkey``), so one object's events share a partition, and carries the CloudEvent."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer
from tests.support.kafka import create_topic, idempotence_supported, unique
from tests.support.s3notify import NotifiedBucket

from tidal import Settings, open_publisher
from tidal._settings import KafkaSettings
from tidal._sources.sqs import SqsOptions, SqsSource

pytestmark = pytest.mark.integration


async def test_uploads_land_in_the_topic_keyed_by_object_key(
    uploads: NotifiedBucket, kafka_bootstrap: str
) -> None:
    topic = unique("uploads")
    await create_topic(kafka_bootstrap, topic, partitions=3)
    keys = ["upload_a.csv", "photos/beach day.jpg", "upload_a.csv"]  # the same key twice
    for n, key in enumerate(keys):
        uploads.s3.put_object(Bucket=uploads.bucket, Key=key, Body=b"x" * (n + 1))
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        emit_topic=topic,
        idempotent_producer=idempotence_supported(kafka_bootstrap),
    )
    settings = Settings(kafka=kafka)
    async with open_publisher(settings, transport="kafka") as publisher:
        poller = SqsSource(uploads.sqs, publisher, SqsOptions(uploads.queue_url, wait_seconds=1))
        published = 0
        while published < len(keys):
            published += (await poller.poll_once()).published
    assert uploads.depth() == 0

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000, max_records=10)
        while sum(len(b) for b in batches.values()) < len(keys):
            more = await consumer.getmany(timeout_ms=5000, max_records=10)
            assert more, "the topic did not receive every event"
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
    finally:
        await consumer.stop()
    records = [r for rs in batches.values() for r in rs]
    assert sorted(r.key.decode() for r in records) == sorted(keys)
    same_key = {tp.partition for tp, rs in batches.items() for r in rs if r.key == b"upload_a.csv"}
    assert len(same_key) == 1  # one object's events share a partition: they stay in order
    headers = [dict(r.headers) for r in records]
    assert {h["ce_type"] for h in headers} == {b"com.amazonaws.s3.ObjectCreated:Put"}
    assert len({h["ce_id"] for h in headers}) == 3  # two uploads of one key are two events
