"""Creating the retry and dead-letter topics a worker needs before it starts consuming.

`KafkaWorker.start` calls `ensure_topics` when ``create_topics`` is on. The retry topic must exist
before the consumer subscribes to it: a topic auto-created later would only be noticed at the
next metadata refresh (minutes), and retries would wait that long. Created topics get
``topic_partitions`` partitions, or as many as the first source topic has, so retries spread over
as many workers as the source does. `message_limit` reads the topics' ``max.message.bytes``, so
retry records and dead letters are made to fit the broker's limit as well as the producer's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tidal.errors import ConfigurationError
from tidal.settings import KafkaSettings
from tidal.transports.kafka.connecting import make_admin

TOPIC_ALREADY_EXISTS: Final = 36
MAX_MESSAGE_BYTES: Final = "max.message.bytes"

log = logging.getLogger("tidal.kafka")


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str]) -> list[str]:
    """Create whichever of ``topics`` do not exist; return the names created."""
    wanted = sorted(set(topics))
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())  # describing a topic may auto-create it
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        partitions = settings.topic_partitions or await _partitions(admin, settings.topics[0])
        new = [NewTopic(t, partitions, settings.replication_factor) for t in missing]
        response = await admin.create_topics(new)
    finally:
        await admin.close()
    failed = [
        f"{topic}: {message or code}"
        for topic, code, message in response.topic_errors
        if code not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise ConfigurationError(f"could not create Kafka topics: {'; '.join(failed)}")
    log.info("created topics %s with %d partition(s)", ", ".join(missing), partitions)
    return missing


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> int:
    """How many partitions ``topic`` has (1 if it does not exist yet)."""
    described = await admin.describe_topics([topic])
    return max((len(t["partitions"]) for t in described if t["error_code"] == 0), default=1)


async def message_limit(settings: KafkaSettings, topics: Iterable[str]) -> int | None:
    """The smallest ``max.message.bytes`` of ``topics`` (Kafka's largest record batch); None
    when the broker reports none (tansu) or cannot be asked (the producer's limit applies)."""
    asked = {MAX_MESSAGE_BYTES: None}
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, asked) for t in sorted(set(topics))]
    admin = make_admin(settings)
    try:
        await admin.start()
        responses = await admin.describe_configs(resources)
    except Exception as exc:  # not knowing the topic limit only loses the early check
        log.warning("could not read the topics' %s: %r", MAX_MESSAGE_BYTES, exc)
        return None
    finally:
        with suppress(Exception):
            await admin.close()
    limits = [
        int(entry[1])
        for response in responses
        for resource in response.resources
        for entry in resource[4]
        if entry[0] == MAX_MESSAGE_BYTES and entry[1] is not None
    ]
    return min(limits, default=None)
