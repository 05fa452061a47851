"""`tidal.kafka._provisioning.ensure_topics`, the one place topics are created, for
the worker (names: the settings' partitions) and the data plane (specs: their own), on a real
Kafka-protocol broker."""

from __future__ import annotations

import pytest
from tests.support.kafka import create_topic, unique

from tidal._settings import KafkaSettings
from tidal.kafka import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


async def test_names_get_the_source_topics_partitions_and_specs_their_own(
    kafka_bootstrap: str,
) -> None:
    source, retry, restored = unique("src"), unique("retry"), unique("restored")
    await create_topic(kafka_bootstrap, source, partitions=3)
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topics=[source])
    counts = await ensure_topics(settings, [retry, TopicSpec(restored, partitions=2)])
    assert counts == {retry: 3, restored: 2}


async def test_existing_topics_are_left_as_they_are_and_counted(kafka_bootstrap: str) -> None:
    existing = unique("existing")
    await create_topic(kafka_bootstrap, existing, partitions=2)
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topics=[existing], topic_partitions=5
    )
    assert await ensure_topics(settings, [TopicSpec(existing, partitions=4)]) == {existing: 2}
    fresh = unique("fresh")
    assert await ensure_topics(settings, [fresh, existing]) == {fresh: 5, existing: 2}
