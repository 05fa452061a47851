"""Restore and replay: publish a backup's records into topics of another cluster.

Restore writes each record to the same partition number of ``<topic prefix><topic>`` (created
with the source's partition count when missing), so every partition, and with it every key,
keeps its order. Replay sends every selected record to one topic, partitioned by key: records
of a key come from one source partition and are sent in order, so per-key order holds too.
Each segment's sha256 is checked before its records are used. After every segment the
checkpoint (``checkpoints/<name>.json`` in the store) records it, so a restarted run skips what
was done; the segment in flight at a crash is sent again (at least once). Called by
``tidal restore`` and ``tidal replay`` (`tidal.cli.restore`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from tidal.archive.errors import ChecksumMismatch, InvalidArgument, PublishFailed
from tidal.archive.filters import Selection
from tidal.archive.keys import checkpoint_key
from tidal.archive.manifest import Manifest, Segment
from tidal.archive.ratelimit import RateLimiter
from tidal.archive.segments import Record, unpack
from tidal.archive.store import ObjectStore
from tidal.settings import KafkaSettings
from tidal.transports.kafka.connecting import client_options


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where records go: ``topic`` (replay: one topic, by key) or ``prefix`` + source topic
    and the same partition (restore)."""

    prefix: str = ""
    topic: str | None = None

    def topic_for(self, source: str) -> str:
        return self.topic or f"{self.prefix}{source}"


@dataclass
class Counts:
    events: int = 0
    skipped: int = 0
    segments: int = 0
    bytes: int = 0
    done_before: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "events": self.events,
            "skipped": self.skipped,
            "objects": self.segments,
            "bytes": self.bytes,
        }


@dataclass
class Checkpoint:
    """Segments already published for one (backup, target); kept in the store."""

    name: str
    backup: str
    done: set[str] = field(default_factory=set)

    def to_json(self) -> bytes:
        return json.dumps({"backup": self.backup, "done": sorted(self.done)}).encode()

    @classmethod
    def load(cls, store: ObjectStore, name: str, backup: str) -> Checkpoint:
        data = store.get(checkpoint_key(name))
        if data is None:
            return cls(name, backup)
        raw = json.loads(data)
        if raw.get("backup") != backup:
            raise InvalidArgument(f"checkpoint {name} belongs to backup {raw.get('backup')}")
        return cls(name, backup, set(raw.get("done", [])))


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


async def ensure_topics(settings: KafkaSettings, wanted: dict[str, int]) -> None:
    """Create missing topics with ``wanted`` partitions; fail if one has fewer."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(t, n, 1) for t, n in sorted(wanted.items()) if t not in existing]
        if new:
            response = await admin.create_topics(new)
            errors = [(t, c) for t, c, *_ in response.topic_errors if c not in (0, 36)]
            if errors:
                raise PublishFailed(f"creating topics failed: {errors}")
        present = [t for t in wanted if t in existing]
        described = await admin.describe_topics(present) if present else []
        for topic in described:
            count = len(topic.get("partitions", []))
            if topic.get("topic") in wanted and count < wanted[topic["topic"]]:
                raise InvalidArgument(
                    f"topic {topic['topic']} has {count} partitions, the backup has "
                    f"{wanted[topic['topic']]}: per-partition order cannot be kept"
                )
    finally:
        await admin.close()


async def publish(
    store: ObjectStore,
    manifest: Manifest,
    producer: Any,
    *,
    target: Target,
    selection: Selection,
    checkpoint: Checkpoint | None,
    limiter: RateLimiter,
    topics: Sequence[str] = (),
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Counts:
    """Send the selected records of ``manifest`` (``topics`` only, when given)."""
    counts = Counts()
    segments = [
        s
        for p in manifest.partitions
        if not topics or p.topic in topics
        for s in manifest.segments_of(p.topic, p.partition)
    ]
    todo = [s for s in segments if checkpoint is None or s.key not in checkpoint.done]
    counts.done_before = len(segments) - len(todo)
    ahead: asyncio.Future[list[Record]] | None = None

    def fetch(segment: Segment) -> asyncio.Future[list[Record]]:
        return asyncio.ensure_future(
            asyncio.to_thread(read_segment, store, segment, manifest.compression)
        )

    try:
        for index, segment in enumerate(todo):
            records = await (ahead or fetch(segment))
            ahead = fetch(todo[index + 1]) if index + 1 < len(todo) else None
            await _send(producer, segment, records, target, selection, limiter, counts, dry_run)
            counts.segments += 1
            counts.bytes += segment.bytes
            if checkpoint is not None and not dry_run:
                checkpoint.done.add(segment.key)
                data = checkpoint.to_json()
                await asyncio.to_thread(store.put, checkpoint_key(checkpoint.name), data)
            if progress is not None:
                progress(segment.count, segment.bytes)
    finally:
        if ahead is not None:
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
    return counts


async def _send(
    producer: Any,
    segment: Segment,
    records: list[Record],
    target: Target,
    selection: Selection,
    limiter: RateLimiter,
    counts: Counts,
    dry_run: bool,
) -> None:
    topic = target.topic_for(segment.topic)
    partition = None if target.topic else segment.partition
    pending = []
    try:
        for record in records:
            if not selection.matches(record):
                counts.skipped += 1
                continue
            await limiter.take()
            counts.events += 1
            if dry_run:
                continue
            pending.append(
                await producer.send(
                    topic,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers),
                    partition=partition,
                    timestamp_ms=record.timestamp,
                )
            )
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise PublishFailed(f"publishing {segment.key} to {topic}: {exc}") from exc
