"""`tidal.kafka._provisioning.ensure_topics`, the one place topics are created, for
the worker (names: the settings' partitions) and the data plane (specs: their own), on a real
Kafka-protocol broker."""

from __future__ import annotations

import logging

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from tests.support.kafka import EXTERNAL_BOOTSTRAP, create_topic, unique

from tidal._settings import KafkaSettings
from tidal.kafka import TopicSpec, _provisioning, admin, ensure_topics

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


async def _cluster_default(bootstrap: str) -> int:
    """What Kafka would give a topic created with replication factor -1 (KIP-464): a broker's
    ``default.replication.factor``; min(3, brokers) when the broker reports none (tansu)."""
    async with admin(KafkaSettings(bootstrap_servers=bootstrap)) as client:
        cluster = await client.describe_cluster()
        node = min(b["node_id"] for b in cluster["brokers"])
        responses = await client.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(node))]
        )
    values = [
        int(value)
        for response in responses
        for _, _, _, _, entries, *_ in response.resources
        for name, value, *_ in entries
        if name == "default.replication.factor" and value
    ]
    return values[0] if values else min(3, len(cluster["brokers"]))


async def _replicas(bootstrap: str, topics: list[str]) -> dict[str, int]:
    async with admin(KafkaSettings(bootstrap_servers=bootstrap)) as client:
        described = await client.describe_topics(topics)
    return {t["topic"]: max(len(p["replicas"]) for p in t["partitions"]) for t in described}


async def test_an_unset_replication_factor_is_the_clusters_default(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry and dead-letter topics (names) and restore targets (specs without one) get what
    the cluster says, not a fixed 1: a single replica loses dead letters with one broker."""
    monkeypatch.setattr(_provisioning, "_fallback_logged", False, raising=False)
    source, retry, restored = unique("src"), unique("retry"), unique("restored")
    await create_topic(kafka_bootstrap, source, partitions=1)
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topics=[source])
    assert settings.replication_factor is None
    expected = await _cluster_default(kafka_bootstrap)
    with caplog.at_level(logging.INFO, logger="tidal.kafka"):
        await ensure_topics(settings, [retry, TopicSpec(restored, partitions=1)])
        await ensure_topics(settings, [unique("again")])
    assert await _replicas(kafka_bootstrap, [retry, restored]) == {
        retry: expected,
        restored: expected,
    }
    said = [
        r.getMessage() for r in caplog.records if "default.replication.factor" in r.getMessage()
    ]
    if kafka_bootstrap != EXTERNAL_BOOTSTRAP:  # tansu answers DescribeConfigs with no configs
        assert len(said) == 1, said  # the fallback is logged once, not at every creation
        assert "1 brokers" in said[0]
        assert f"replication factor {expected}" in said[0]


async def test_an_explicit_replication_factor_is_used_as_given(kafka_bootstrap: str) -> None:
    """tansu records the replicas asked for (one broker, listed that many times)."""
    if kafka_bootstrap == EXTERNAL_BOOTSTRAP:
        pytest.skip("needs a broker that accepts more replicas than it has")
    named, spec = unique("named"), unique("spec")
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, replication_factor=2)
    await ensure_topics(settings, [named, TopicSpec(spec, partitions=1, replication_factor=3)])
    assert await _replicas(kafka_bootstrap, [named, spec]) == {named: 2, spec: 3}


async def test_the_broker_default_is_read_from_a_broker(kafka_bootstrap: str) -> None:
    async with admin(KafkaSettings(bootstrap_servers=kafka_bootstrap)) as client:
        found = await _provisioning.cluster_replication_factor(client)
    assert found == await _cluster_default(kafka_bootstrap)
