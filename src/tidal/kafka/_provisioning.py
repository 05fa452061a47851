"""The Kafka admin calls of the worker and the data plane alike: creating topics, reading their
configs.

The one place topics are created (issue 19: the worker and the data plane each had their own).
`KafkaWorker.start` calls `ensure_topics` with the names of its retry and dead-letter topics when
``create_topics`` is on: the retry topic must exist before the consumer subscribes to it (a
topic auto-created later would only be noticed at the next metadata refresh, minutes). A name
alone gets ``topic_partitions`` partitions, or as many as the first source topic has (retries
spread over as many workers as the source does), and ``replication_factor``. The data plane
(restores, restore tests) passes `TopicSpec`s saying the partitions, replication factor and
configs the backed-up topic had. `topic_configs` is DescribeConfigs for topics, as
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

from tidal._errors import ConfigurationError
from tidal._settings import KafkaSettings
from tidal.kafka._connecting import admin as started_admin

TOPIC_ALREADY_EXISTS: Final = 36
MAX_MESSAGE_BYTES: Final = "max.message.bytes"

log = logging.getLogger("tidal.kafka")


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create if missing. None: the settings' ``topic_partitions`` (else as many
    partitions as the first source topic) and ``replication_factor``."""

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
            created = ", ".join(f"{t.name} ({t.num_partitions})" for t in new)
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
    return [
        NewTopic(
            spec.name,
            spec.partitions or default,
            spec.replication_factor or settings.replication_factor,
            topic_configs=dict(spec.configs),
        )
        for spec in specs
    ]


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
