"""Run marks in the target: what makes restore, replay and re-drive idempotent against the
target cluster itself rather than a checkpoint kept elsewhere.

Every record a run publishes carries two headers: ``tidal-run`` (the run id) and
``tidal-origin`` (``<topic>/<partition>/<offset>`` of the record it copies: a backed-up record,
or an archived dead letter). Before sending, the run reads the target topics back (`scan`):
records with its own run id say what is there already, so a repeat (a retried Job, a re-run
command) sends only what is missing, and a wiped target is noticed and refilled; records
without it are *foreign* (a restore refuses a target holding any unless told otherwise).

Restore and replay send every origin partition in offset order and choose the target partition
themselves, so within one (target partition, origin partition) stream offsets only grow: the
highest origin offset seen per stream is all a resume needs (`Done`, bounded by the partition
count). Called by `tidal_data.restore` and `tidal_data.dlq`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tidal.kafka import RUN_HEADER as RUN_MARK
from tidal.kafka import KafkaSettings
from tidal_data.errors import BrokerUnreachable
from tidal_data.kafka import TopicPartition, consumer, murmur2, offset_ranges, start, stop

RUN_HEADER: Final = RUN_MARK  # the header the Kafka transport reads (tidal.kafka)
ORIGIN_HEADER: Final = "tidal-origin"
ORIGINAL_TIMESTAMP: Final = "tidal-original-timestamp"
"""The record's own timestamp, when a restore gave it the restore time (``--timestamps now``)."""
MARK_HEADERS: Final = (RUN_HEADER, ORIGIN_HEADER, ORIGINAL_TIMESTAMP)
SCAN_RECORDS: Final = 5000
SCAN_TIMEOUT: Final = 30.0

Stream = tuple[str, int, str, int]
"""(target topic, target partition, origin topic, origin partition)."""


def origin(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}/{offset}"


def parse_origin(value: bytes) -> tuple[str, int, int] | None:
    try:
        topic, partition, offset = value.decode("utf-8").rsplit("/", 2)
        return topic, int(partition), int(offset)
    except (UnicodeDecodeError, ValueError):
        return None


def marks(run_id: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The two headers a published copy of ``topic/partition/offset`` carries."""
    return [
        (RUN_HEADER, run_id.encode("utf-8")),
        (ORIGIN_HEADER, origin(topic, partition, offset).encode("utf-8")),
    ]


def without_marks(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A record's headers minus earlier runs' marks (a restored backup restored again)."""
    return [(name, value) for name, value in headers if name not in MARK_HEADERS]


def partition_for(key: bytes | None, origin_partition: int, count: int) -> int:
    """The target partition of a record when re-partitioning: Kafka's default partitioner
    (murmur2 of the key, positive, modulo the count: `aiokafka.partitioner`, the Java client's
    ``Utils.toPositive(Utils.murmur2(key)) % numPartitions``); a record without a key keeps
    its origin partition modulo the count, so the choice is the same on every run."""
    if key is None:
        return origin_partition % count
    return int(murmur2(key) & 0x7FFFFFFF) % count


@dataclass
class Done:
    """What a scan found in the target."""

    highest: dict[Stream, int] = field(default_factory=dict)
    """Per stream, the highest origin offset of this run already in the target."""
    origins: set[str] = field(default_factory=set)
    """Every origin of this run found (kept only when asked: re-drive)."""
    ours: int = 0
    foreign: dict[str, int] = field(default_factory=dict)
    """Per target topic, records not of this run."""

    def has(self, stream: Stream, offset: int) -> bool:
        return offset <= self.highest.get(stream, -1)


def _mark_of(record: Any) -> tuple[bytes | None, bytes | None]:
    run, where = None, None
    for name, value in record.headers:
        if name == RUN_HEADER:
            run = value
        elif name == ORIGIN_HEADER:
            where = value
    return run, where


def note(done: Done, record: Any, topic: str, run_id: bytes, keep_origins: bool) -> None:
    run, where = _mark_of(record)
    found = parse_origin(where) if run == run_id and where is not None else None
    if found is None:
        done.foreign[topic] = done.foreign.get(topic, 0) + 1
        return
    done.ours += 1
    stream = (topic, record.partition, found[0], found[1])
    done.highest[stream] = max(done.highest.get(stream, -1), found[2])
    if keep_origins and where is not None:
        done.origins.add(where.decode("utf-8"))


async def scan(
    client: Any,
    ends: dict[TopicPartition, tuple[int, int]],
    run_id: str,
    *,
    keep_origins: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Done:
    """Read the target partitions from their start to their end (``ends``: (start, end) per
    partition from `tidal_data.kafka.offset_ranges`) and sort out this run's records.
    ``client``: a started consumer without a group."""
    done = Done()
    pending = {tp: span for tp, span in ends.items() if span[1] > span[0]}
    if not pending:
        return done
    client.assign(list(pending))
    for tp, (first, _) in pending.items():
        client.seek(tp, first)
    wanted = run_id.encode("utf-8")
    deadline = time.monotonic() + SCAN_TIMEOUT
    while pending:
        batches = await client.getmany(timeout_ms=500, max_records=SCAN_RECORDS)
        if batches:
            deadline = time.monotonic() + SCAN_TIMEOUT
        elif time.monotonic() > deadline:
            raise BrokerUnreachable("reading the target back: no records within 30s")
        for tp, records in batches.items():
            end = pending.get(tp, (0, 0))[1]
            for record in records:
                if record.offset < end:
                    note(done, record, tp.topic, wanted, keep_origins)
            if progress is not None:
                progress(len(records))
        for tp in [tp for tp, (_, end) in pending.items() if await client.position(tp) >= end]:
            del pending[tp]
    return done


async def read_back(settings: KafkaSettings, counts: dict[str, int], run_id: str) -> Done:
    """`scan` every partition of the topics in ``counts`` (topic -> partition count)."""
    client = consumer(settings)
    await start(client, settings.bootstrap_servers)
    try:
        await client.topics()
        tps = [TopicPartition(t, p) for t, n in sorted(counts.items()) for p in range(n)]
        return await scan(client, await offset_ranges(client, tps), run_id)
    finally:
        await stop(client)
