"""Restore and replay: publish a backup's records into topics of another cluster.

Restore writes each record to the same partition number of ``<topic prefix><topic>`` (created
with the source's partition count, replication factor and configs when missing), so every
partition, and with it every key, keeps its order; ``repartition`` sends by key hash instead.
Replay sends every selected record to one topic, partitioned by key: records of a key come from
one source partition and are sent in order, so per-key order holds too. Each segment's sha256 is
checked before its records are used. Every published record carries the run's marks
(`tidal_data.marks`); what the target already holds of this run (`Done`, read back from the
target before sending) is not sent again, so a repeated run sends nothing twice and a wiped
target is refilled. Called by ``tidal restore`` and ``tidal replay`` (`tidal_data.cli.restore`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidal_data.errors import ChecksumMismatch, PublishFailed
from tidal_data.filters import Selection
from tidal_data.kafka import KafkaError
from tidal_data.manifest import Manifest, Segment
from tidal_data.marks import ORIGINAL_TIMESTAMP, Done, marks, partition_for, without_marks
from tidal_data.ratelimit import RateLimiter
from tidal_data.segments import Record, unpack
from tidal_data.store import ObjectStore


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where records go: ``topic`` (replay: one topic, by key) or ``prefix`` + source topic
    and the same partition (restore; by key hash with ``repartition``). ``partitions``: each
    target topic's partition count."""

    prefix: str = ""
    topic: str | None = None
    repartition: bool = False
    partitions: dict[str, int] = field(default_factory=dict)
    restamp: bool = False
    """Give records the restore time (the original goes into ``tidal-original-timestamp``), so
    a time-based retention in the target does not delete them at once."""

    def topic_for(self, source: str) -> str:
        return self.topic or f"{self.prefix}{source}"

    @property
    def by_key(self) -> bool:
        return self.topic is not None or self.repartition

    def partition_for(self, topic: str, partition: int, key: bytes | None) -> int:
        if not self.by_key:
            return partition
        return partition_for(key, partition, self.partitions.get(self.topic_for(topic), 1))


@dataclass
class Counts:
    events: int = 0
    skipped: int = 0
    present: int = 0
    """Records this run had published before (found in the target), not sent again."""
    segments: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "events": self.events,
            "skipped": self.skipped,
            "present": self.present,
            "objects": self.segments,
            "bytes": self.bytes,
        }


def run_id(kind: str, manifest: Manifest, *parts: object) -> str:
    """A run's id: the same backup, target topics and selection give the same id, wherever the
    target is and however its address is written (the address is not part of it)."""
    text = "|".join([kind, manifest.scope or "", manifest.id, *(repr(p) for p in parts)])
    return f"{kind}-{manifest.id}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def read_segment(store: ObjectStore, segment: Segment, compression: Any) -> list[Record]:
    """A segment's records, after its checksum was verified. Blocking."""
    stored = store.get_raw(segment.key)
    if stored is None:
        raise ChecksumMismatch(f"segment {segment.key}: missing from the store")
    if hashlib.sha256(stored).hexdigest() != segment.sha256:
        raise ChecksumMismatch(f"segment {segment.key}: sha256 differs")
    records = unpack(store.reveal(segment.key, stored), compression)
    if len(records) != segment.count:
        raise ChecksumMismatch(
            f"segment {segment.key}: {len(records)} records, not {segment.count}"
        )
    return records


async def publish(
    store: ObjectStore,
    manifest: Manifest,
    producer: Any,
    *,
    target: Target,
    selection: Selection,
    run: str,
    done: Done,
    limiter: RateLimiter,
    topics: Sequence[str] = (),
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Counts:
    """Send the selected records of ``manifest`` (``topics`` only, when given) that ``done``
    does not hold yet, each marked with ``run``."""
    counts = Counts()
    segments = [
        s
        for p in manifest.partitions
        if not topics or p.topic in topics
        for s in manifest.segments_of(p.topic, p.partition)
    ]
    todo = []
    for segment in segments:
        if _all_present(target, done, segment):
            counts.present += segment.count
        else:
            todo.append(segment)
    ahead: asyncio.Future[list[Record]] | None = None

    def fetch(segment: Segment) -> asyncio.Future[list[Record]]:
        return asyncio.ensure_future(
            asyncio.to_thread(read_segment, store, segment, manifest.compression)
        )

    try:
        for index, segment in enumerate(todo):
            records = await (ahead or fetch(segment))
            ahead = fetch(todo[index + 1]) if index + 1 < len(todo) else None
            await _send(producer, segment, records, target, selection, run, done, limiter,
                        counts, dry_run)  # fmt: skip
            counts.segments += 1
            counts.bytes += segment.bytes
            if progress is not None:
                progress(segment.count, segment.bytes)
    finally:
        if ahead is not None:
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
    return counts


def _all_present(target: Target, done: Done, segment: Segment) -> bool:
    """Whether a same-partition restore already holds the whole segment (it is not read)."""
    if target.by_key:
        return False
    stream = (target.topic_for(segment.topic), segment.partition, segment.topic, segment.partition)
    return done.has(stream, segment.last)


async def _send(
    producer: Any,
    segment: Segment,
    records: list[Record],
    target: Target,
    selection: Selection,
    run: str,
    done: Done,
    limiter: RateLimiter,
    counts: Counts,
    dry_run: bool,
) -> None:
    topic = target.topic_for(segment.topic)
    pending = []
    try:
        for record in records:
            partition = target.partition_for(segment.topic, segment.partition, record.key)
            if done.has((topic, partition, segment.topic, segment.partition), record.offset):
                counts.present += 1
                continue
            if not selection.matches(record):
                counts.skipped += 1
                continue
            await limiter.take()
            counts.events += 1
            if dry_run:
                continue
            headers = without_marks(record.headers)
            headers += marks(run, segment.topic, segment.partition, record.offset)
            if target.restamp:
                headers.append((ORIGINAL_TIMESTAMP, str(record.timestamp).encode()))
            pending.append(
                await producer.send(
                    topic,
                    key=record.key,
                    value=record.value,
                    headers=headers,
                    partition=partition,
                    timestamp_ms=None if target.restamp else record.timestamp,
                )
            )
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise PublishFailed(f"publishing {segment.key} to {topic}: {exc}") from exc
