"""What a cluster says about itself and its topics: cluster id, brokers, partition counts,
replication factors and the configs set on each topic; creating topics alike in another.

A backup records this in its manifest (`tidal_data.runs`); a restore (`tidal_data.cli.restore`)
creates missing topics with the same partition count, replication factor and configs, refuses a
target whose partition count differs (per-key order would not hold) unless asked to re-partition,
and recognises the backup's own source cluster. The admin calls are the runtime's
(`tidal.kafka`: `ensure_topics` creates topics for the worker too, `topic_configs` reads them);
what is read is interpreted here. Called by the data-plane runs.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from tidal.kafka import (
    ConfigEntry,
    KafkaSettings,
    TopicCreationError,
    TopicSpec,
    admin,
    ensure_topics,
    topic_configs,
)
from tidal_data.errors import InvalidArgument, PublishFailed
from tidal_data.kafka import KafkaError
from tidal_data.manifest import TopicConfig

RETENTION: Final = "retention.ms"
TOPIC_CONFIG: Final = 1
BROKER_SOURCES: Final = frozenset({2, 3, 4, 6})
"""DescribeConfigs ``config_source`` values (Kafka's DescribeConfigsResponse.json): 1 is a
topic's own config, 2-4 and 6 broker-level ones, 5 a default."""


@dataclass(frozen=True)
class Cluster:
    """A cluster's identity: its id and its brokers' resolved (address, port) pairs."""

    cluster_id: str
    brokers: frozenset[tuple[str, int]]

    def as_dict(self) -> dict[str, str]:
        brokers = ",".join(f"{host}:{port}" for host, port in sorted(self.brokers))
        return {"cluster_id": self.cluster_id, "brokers": brokers}

    def same_as(self, recorded: dict[str, str] | None) -> bool:
        """Whether ``recorded`` (a manifest's ``source``) names this cluster: the same id and
        a broker in common (tansu gives every cluster the same id, so the id alone is not
        enough)."""
        if not recorded or recorded.get("cluster_id") != self.cluster_id:
            return False
        theirs = {_address(b) for b in recorded.get("brokers", "").split(",") if b}
        return bool(theirs & self.brokers)


def _address(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    try:
        resolved = socket.gethostbyname(host)
    except OSError:
        resolved = host
    return resolved, int(port)


def _own_configs(entries: Sequence[ConfigEntry]) -> list[dict[str, str]]:
    """The configs set on the topic itself. Kafka marks them ``config_source`` 1 among every
    default; tansu 0.6 lists only the ones set, marked 5: with no broker-level or topic source
    in the answer, every writable entry is taken."""
    kafka_like = any(e.source in BROKER_SOURCES or e.source == TOPIC_CONFIG for e in entries)
    return [
        {"name": e.name, "value": str(e.value)}
        for e in entries
        if e.value is not None
        and not e.read_only
        and not e.sensitive
        and (e.source == TOPIC_CONFIG or not kafka_like)
    ]


async def describe(
    settings: KafkaSettings, topics: Sequence[str]
) -> tuple[Cluster, list[TopicConfig]]:
    """The cluster and each of ``topics`` as it is now."""
    async with admin(settings) as client:
        cluster = await _cluster(client)
        described = await client.describe_topics(list(topics)) if topics else []
        configs = await _configs(client, topics)
    found = []
    for topic in described:
        parts = topic.get("partitions", [])
        if topic.get("error_code") or not parts:
            continue
        name = topic["topic"]
        replicas = max(len(p.get("replicas", [])) for p in parts) or 1
        found.append(TopicConfig(
            name=name, partitions=len(parts), replication_factor=replicas,
            configs=configs.get(name, []),
        ))  # fmt: skip
    return cluster, sorted(found, key=lambda t: t.name)


async def _cluster(admin: Any) -> Cluster:
    raw = await admin.describe_cluster()
    brokers = frozenset(_address(f"{b['host']}:{b['port']}") for b in raw.get("brokers", []))
    return Cluster(str(raw.get("cluster_id") or ""), brokers)


async def _configs(client: Any, topics: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    try:
        configs = await topic_configs(client, topics)
    except KafkaError:
        return {}
    return {topic: _own_configs(entries) for topic, entries in configs.items()}


async def create_targets(
    settings: KafkaSettings,
    wanted: Sequence[TopicConfig],
    *,
    repartition: bool = False,
    replication_factor: int | None = None,
) -> dict[str, int]:
    """Create missing topics as ``wanted`` says (partitions, replication factor, unless
    ``replication_factor`` overrides it, and configs) through the worker's `ensure_topics`; an
    existing topic must have the same partition count unless ``repartition``. Returns each
    topic's partition count. A topic with no replication factor from either gets the
    cluster's default (`ensure_topics`)."""
    specs = [
        TopicSpec(
            t.name,
            partitions=t.partitions,
            replication_factor=replication_factor or t.replication_factor,
            configs=t.config_map(),
        )
        for t in wanted
    ]
    try:
        counts = await ensure_topics(settings, specs)
    except TopicCreationError as exc:
        raise PublishFailed(str(exc)) from exc
    for topic in wanted:
        count = counts.get(topic.name, 0)
        if count != topic.partitions and not repartition:
            raise InvalidArgument(
                f"topic {topic.name} has {count} partitions, the backup has {topic.partitions}:"
                " keyed records would land elsewhere (--repartition by-key to re-partition)",
                reason="PartitionCountDiffers",
            )
    return counts


async def cluster_of(settings: KafkaSettings) -> Cluster:
    async with admin(settings) as client:
        return await _cluster(client)


async def retention_ms(settings: KafkaSettings, topics: Sequence[str]) -> dict[str, int]:
    """Each topic's effective ``retention.ms`` where the cluster reports one (Kafka reports
    defaults too; tansu only what is set on the topic). -1: kept forever."""
    async with admin(settings) as client:
        try:
            configs = await topic_configs(client, topics)
        except KafkaError:
            return {}
    return {
        topic: int(entry.value)
        for topic, entries in configs.items()
        for entry in entries
        if entry.name == RETENTION and entry.value is not None
    }
