"""Kafka for the data plane: its clients, topic selection, offsets, and the only module of it
that imports aiokafka (the partition, offset and error types the others use come from here).

Clients are built by the runtime's public `tidal.kafka` (the worker's own builder): connection
and security options come from ``TIDAL_KAFKA__*`` (the operator passes a Secret's keys as the
environment); the command line's ``--bootstrap-servers`` overrides the servers. Log-end offsets
are read from fetch high watermarks, which every Kafka-protocol broker reports exactly (tansu's
ListOffsets under-counts multi-record batches). Called by the archiver, restore and the DLQ
commands.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    OffsetOutOfRangeError,
    TopicAuthorizationFailedError,
)
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

from tidal import Settings
from tidal.kafka import KafkaSettings
from tidal.kafka import consumer as new_consumer
from tidal.kafka import producer as new_producer
from tidal_data.errors import BrokerUnreachable, NoTopicsSelected

__all__ = [
    "ConsumerRebalanceListener",
    "KafkaConnectionError",
    "KafkaError",
    "OffsetAndMetadata",
    "OffsetOutOfRangeError",
    "TopicAuthorizationFailedError",
    "TopicPartition",
    "consumer",
    "kafka_settings",
    "murmur2",
    "offset_ranges",
    "partitions",
    "producer",
    "select_topics",
    "start",
    "stop",
]

HIGH_WATER_TIMEOUT = 30.0


def kafka_settings(bootstrap_servers: str) -> KafkaSettings:
    """``TIDAL_KAFKA__*`` from the environment, with these bootstrap servers."""
    return Settings().kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})


def consumer(
    settings: KafkaSettings, *, group: str | None = None, reset: str = "earliest", **options: Any
) -> Any:
    """A consumer that never commits by itself (no group: partitions are assigned by hand).
    ``reset="none"`` (the archiver's) makes a position the log no longer has an error
    (``OffsetOutOfRangeError``) instead of a silent jump to the log start."""
    return new_consumer(settings, group_id=group, auto_offset_reset=reset, **options)


def producer(settings: KafkaSettings, **options: Any) -> Any:
    """A producer waiting for every in-sync replica (`tidal.kafka.producer`)."""
    return new_producer(settings, **options)


async def start(client: Any, bootstrap: str) -> None:
    try:
        await client.start()
    except KafkaConnectionError as exc:
        await client.stop()
        raise BrokerUnreachable(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    except KafkaError as exc:
        await client.stop()
        raise BrokerUnreachable(f"Kafka at {bootstrap}: {exc}") from exc


async def stop(client: Any) -> None:
    """Stop a client; first let its background tasks start (aiokafka's consumer cannot be
    stopped before they ran once)."""
    await asyncio.sleep(0)
    await client.stop()


def select_topics(
    available: Iterable[str],
    *,
    names: Sequence[str],
    include: Sequence[str],
    exclude: Sequence[str],
) -> list[str]:
    """Named topics plus those matching an include pattern, minus excluded ones; internal
    topics (``__*``) only by name. Pure."""
    present = set(available)
    chosen = {t for t in names if t in present}
    patterns = [re.compile(p) for p in include]
    chosen |= {
        t for t in present if not t.startswith("__") and any(p.fullmatch(t) for p in patterns)
    }
    excluded = [re.compile(p) for p in exclude]
    selected = sorted(t for t in chosen if not any(p.fullmatch(t) for p in excluded))
    missing = [t for t in names if t not in present]
    if not selected:
        hint = f" (not found: {', '.join(missing)})" if missing else ""
        raise NoTopicsSelected(f"no topic selected{hint}")
    return selected


async def partitions(client: Any, topics: Sequence[str]) -> list[TopicPartition]:
    await client.topics()  # refreshes the metadata
    found = []
    for topic in topics:
        numbers = client.partitions_for_topic(topic) or set()
        found += [TopicPartition(topic, n) for n in sorted(numbers)]
    return found


async def offset_ranges(
    client: Any, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """(log start, log end) of each partition; the end from fetch high watermarks."""
    if not tps:
        return {}
    starts = await client.beginning_offsets(list(tps))
    client.assign(list(tps))
    for tp in tps:
        client.seek(tp, starts[tp])
    await client.seek_to_end(*tps)
    deadline = time.monotonic() + HIGH_WATER_TIMEOUT
    while any(client.last_poll_timestamp(tp) is None for tp in tps):
        if time.monotonic() > deadline:
            raise BrokerUnreachable("no fetch response (high watermark) within 30s")
        await client.getmany(timeout_ms=200)
    await client.getmany(timeout_ms=50)
    ends = {tp: client.highwater(tp) or 0 for tp in tps}
    client.pause(*tps)  # the caller assigns what it reads next (no unsubscribe: see writer)
    return {tp: (starts[tp], max(ends[tp], starts[tp])) for tp in tps}
