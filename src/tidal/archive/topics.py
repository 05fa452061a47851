"""What a cluster says about itself and its topics: cluster id, brokers, partition counts,
replication factors and the configs set on each topic; creating topics alike in another.

A backup records this in its manifest (`tidal.archive.runs`); a restore (`tidal.cli.restore`)
creates missing topics with the same partition count, replication factor and configs, refuses a
target whose partition count differs (per-key order would not hold) unless asked to re-partition,
and recognises the backup's own source cluster. Topics are created by the worker's
`tidal.transports.kafka.provisioning.ensure_topics` (one implementation for both). Called by the
data-plane runs.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from tidal.archive.errors import InvalidArgument, PublishFailed
from tidal.archive.manifest import TopicConfig
from tidal.settings import KafkaSettings
from tidal.transports.kafka.connecting import make_admin
from tidal.transports.kafka.provisioning import TopicCreationError, TopicSpec, ensure_topics

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


def _own_configs(entries: Sequence[Any]) -> list[dict[str, str]]:
    """The configs set on the topic itself. Kafka marks them ``config_source`` 1 among every
    default; tansu 0.6 lists only the ones set, marked 5: with no broker-level or topic source
    in the answer, every writable entry is taken."""
    rows = [tuple(e) for e in entries]  # (name, value, read_only, source, sensitive, ...)
    kafka_like = any(row[3] in BROKER_SOURCES or row[3] == TOPIC_CONFIG for row in rows)
    return [
        {"name": str(row[0]), "value": str(row[1])}
        for row in rows
        if row[1] is not None
        and not row[2]
        and not row[4]
        and (row[3] == TOPIC_CONFIG or not kafka_like)
    ]


async def _admin(settings: KafkaSettings) -> Any:
    admin = make_admin(settings)
    await admin.start()
    return admin


async def describe(
    settings: KafkaSettings, topics: Sequence[str]
) -> tuple[Cluster, list[TopicConfig]]:
    """The cluster and each of ``topics`` as it is now."""
    admin = await _admin(settings)
    try:
        cluster = await _cluster(admin)
        described = await admin.describe_topics(list(topics)) if topics else []
        configs = await _configs(admin, topics)
    finally:
        await admin.close()
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


async def _configs(admin: Any, topics: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
    try:
        responses = await admin.describe_configs(resources)
    except KafkaError:
        return {}
    found: dict[str, list[dict[str, str]]] = {}
    for response in responses:
        for resource in response.resources:
            error, _, _, name, entries = resource[:5]
            if not error:
                found[name] = _own_configs(entries)
    return found


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
    topic's partition count."""
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
    admin = await _admin(settings)
    try:
        return await _cluster(admin)
    finally:
        await admin.close()


async def retention_ms(settings: KafkaSettings, topics: Sequence[str]) -> dict[str, int]:
    """Each topic's effective ``retention.ms`` where the cluster reports one (Kafka reports
    defaults too; tansu only what is set on the topic). -1: kept forever."""
    admin = await _admin(settings)
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        responses = await admin.describe_configs(resources) if resources else []
    except KafkaError:
        return {}
    finally:
        await admin.close()
    found = {}
    for response in responses:
        for resource in response.resources:
            error, _, _, name, entries = resource[:5]
            for entry in entries if not error else ():
                if entry[0] == "retention.ms" and entry[1] is not None:
                    found[name] = int(entry[1])
    return found
