"""The Kafka admin calls of the worker and the data plane alike: creating topics, reading their
configs.

The one place topics are created (issue 19: the worker and the data plane each had their own).
`KafkaWorker.start` calls `ensure_topics` with the names of its retry and dead-letter topics when
``create_topics`` is on: the retry topic must exist before the consumer subscribes to it (a
topic auto-created later would only be noticed at the next metadata refresh, minutes). A name
alone gets ``topic_partitions`` partitions, or as many as the first source topic has (retries
spread over as many workers as the source does), and ``replication_factor``, or when that is
unset the cluster's ``default.replication.factor`` (`cluster_replication_factor`). The data
plane (restores, restore tests) passes `TopicSpec`s saying the partitions, replication factor
and configs the backed-up topic had. `topic_configs` is DescribeConfigs for topics, as
`ConfigEntry` rows: `message_limit` reads the topics' ``max.message.bytes`` with it, so retry
records and dead letters are made to fit the broker's limit as well as the producer's, and the
data plane the configs a backup records and the retention a restore checks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from tidal._errors import ConfigurationError
from tidal._settings import KafkaSettings
from tidal.kafka._connecting import admin as started_admin

TOPIC_ALREADY_EXISTS: Final = 36
MAX_MESSAGE_BYTES: Final = "max.message.bytes"
DEFAULT_REPLICATION_FACTOR: Final = "default.replication.factor"
MOST_FALLBACK_REPLICAS: Final = 3

log = logging.getLogger("tidal.kafka")
_fallback_logged = False


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create if missing. None: the settings' ``topic_partitions`` (else as many
    partitions as the first source topic) and ``replication_factor`` (else the cluster's
    default)."""

    name: str
    partitions: int | None = None
    replication_factor: int | None = None
    configs: Mapping[str, str] = field(default_factory=dict)


class TopicCreationError(ConfigurationError):
    """The broker refused to create a topic (the reason of each refusal in the message)."""


async def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str | TopicSpec]
) -> dict[str, int]:
    """Create whichever of ``topics`` do not exist; every one's partition count afterwards.

    Topics that exist are left as they are (their partition count is returned for the caller
    to check). Raises `TopicCreationError` when the broker refuses one.
    """
    specs = {t.name: t for t in (TopicSpec(t) if isinstance(t, str) else t for t in topics)}
    async with started_admin(settings) as admin:
        existing = set(await admin.list_topics())  # describing a topic may auto-create it
        missing = [specs[name] for name in sorted(specs) if name not in existing]
        if missing:
            new = await _new_topics(admin, settings, missing)
            response = await admin.create_topics(new)
            _raise_refusals(response.topic_errors)
            created = ", ".join(
                f"{t.name} ({t.num_partitions} partitions, {t.replication_factor} replicas)"
                for t in new
            )
            log.info("created topics %s", created)
        described = await admin.describe_topics(sorted(specs))
    return {
        t["topic"]: len(t.get("partitions", []))
        for t in described
        if t["topic"] in specs and t.get("error_code", 0) == 0
    }


async def _new_topics(
    admin: AIOKafkaAdminClient, settings: KafkaSettings, specs: list[TopicSpec]
) -> list[NewTopic]:
    default = settings.topic_partitions
    if default is None and any(spec.partitions is None for spec in specs):
        default = await _partitions(admin, settings.topics[0]) if settings.topics else 1
    replicas = settings.replication_factor
    if replicas is None and any(spec.replication_factor is None for spec in specs):
        replicas = await cluster_replication_factor(admin)
    return [
        NewTopic(
            spec.name,
            spec.partitions or default,
            spec.replication_factor or replicas,
            topic_configs=dict(spec.configs),
        )
        for spec in specs
    ]


async def cluster_replication_factor(admin: AIOKafkaAdminClient) -> int:
    """The replication factor Kafka gives a topic created with -1 (KIP-464): the brokers'
    ``default.replication.factor``, read from one broker with DescribeConfigs. aiokafka sends
    CreateTopics v3 at most, where -1 is refused, so it is read and sent as a number. When the
    broker does not say (tansu reports no broker configs; no DescribeConfigs permission on the
    cluster), `fallback_replication_factor` of the brokers in the metadata, logged once."""
    cluster = await admin.describe_cluster()
    nodes = sorted(int(b["node_id"]) for b in cluster.get("brokers", []))
    found: int | None = None
    reason = "it reports none"
    if nodes:
        # The controller applies the setting in KRaft mode; a combined cluster shares it, and
        # the metadata names only brokers (with Zookeeper the controller is one of them).
        controller = cluster.get("controller_id")
        node = controller if controller in nodes else nodes[0]
        # All its configs: tansu 0.6.0 drops the connection when config names are given.
        resource = ConfigResource(ConfigResourceType.BROKER, str(node))
        try:
            found = broker_replication_factor(await admin.describe_configs([resource]))
        except (KafkaError, TimeoutError) as exc:  # the fallback is as safe as it gets
            reason = f"it could not be asked: {exc!r}"
    if found is not None:
        return found
    replicas = fallback_replication_factor(len(nodes))
    global _fallback_logged  # once per process, not at every topic created
    if not _fallback_logged:
        _fallback_logged = True
        log.info(
            "the broker does not say its %s (%s): creating topics with replication factor %d,"
            " min(%d, %d brokers); set replication_factor to choose",
            DEFAULT_REPLICATION_FACTOR,
            reason,
            replicas,
            MOST_FALLBACK_REPLICAS,
            len(nodes),
        )
    return replicas


def broker_replication_factor(responses: Iterable[Any]) -> int | None:
    """``default.replication.factor`` in DescribeConfigs answers for a broker (None: absent,
    refused or not a positive number)."""
    for response in responses:
        for resource in response.resources:
            error, _, _, _, entries = resource[:5]
            for entry in entries if not error else ():
                name, value = tuple(entry)[:2]
                if name == DEFAULT_REPLICATION_FACTOR and value and value.isdigit():
                    return int(value) or None
    return None


def fallback_replication_factor(brokers: int) -> int:
    """Replicas of a created topic when the cluster's default is unknown: three (survives a
    broker lost while another is down for maintenance), or every broker of a smaller cluster."""
    return max(1, min(MOST_FALLBACK_REPLICAS, brokers))


def _raise_refusals(errors: Iterable[tuple[object, ...]]) -> None:
    failed = [
        f"{topic}: {message or code}"
        for topic, code, message, *_ in errors
        if code not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise TopicCreationError(f"could not create Kafka topics: {'; '.join(failed)}")


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> int:
    """How many partitions ``topic`` has (1 if it does not exist yet)."""
    described = await admin.describe_topics([topic])
    return max((len(t["partitions"]) for t in described if t["error_code"] == 0), default=1)


@dataclass(frozen=True)
class ConfigEntry:
    """One config of a topic as DescribeConfigs reports it. ``source`` is Kafka's
    ``config_source`` (DescribeConfigsResponse.json): 1 the topic's own, 2-4 and 6 broker-level,
    5 a default."""

    name: str
    value: str | None
    read_only: bool
    source: int
    sensitive: bool


async def topic_configs(
    admin: AIOKafkaAdminClient, topics: Iterable[str], names: Iterable[str] = ()
) -> dict[str, list[ConfigEntry]]:
    """Each topic's configs (only ``names`` when given), from a started admin client; a topic
    the broker reports an error for is left out. Raises what aiokafka raises."""
    asked = dict.fromkeys(names) or None
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, asked) for t in sorted(set(topics))]
    if not resources:
        return {}
    found: dict[str, list[ConfigEntry]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            error, _, _, topic, entries = resource[:5]
            if not error:
                found[topic] = [_entry(e) for e in entries]
    return found


def _entry(row: Any) -> ConfigEntry:
    name, value, read_only, source, sensitive = tuple(row)[:5]
    return ConfigEntry(str(name), value, bool(read_only), int(source), bool(sensitive))


async def message_limit(settings: KafkaSettings, topics: Iterable[str]) -> int | None:
    """The smallest ``max.message.bytes`` of ``topics`` (Kafka's largest record batch); None
    when the broker reports none (tansu) or cannot be asked (the producer's limit applies)."""
    try:
        async with started_admin(settings) as admin:
            configs = await topic_configs(admin, topics, [MAX_MESSAGE_BYTES])
    except Exception as exc:  # not knowing the topic limit only loses the early check
        log.warning("could not read the topics' %s: %r", MAX_MESSAGE_BYTES, exc)
        return None
    limits = [
        int(entry.value)
        for entries in configs.values()
        for entry in entries
        if entry.name == MAX_MESSAGE_BYTES and entry.value is not None
    ]
    return min(limits, default=None)
