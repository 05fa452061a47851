"""Dead-letter archive: drain DLQ topics into the store, prune it, list, find and re-drive.

`drain` consumes the dead-letter topics in a consumer group (the one KEDA scales on), groups
records by topic, partition, time slice (of the last failure) and, optionally, event type, and
closes a segment at ``max_events`` or ``max_age``. Offsets are committed only below every
record still held in an open segment, so a crash re-reads (and a segment cut the same way finds
its key taken and is skipped). `prune` deletes slices older than the retention; `select` reads
archived letters back, de-duplicated; `original_record` turns a letter back into the record
that failed, for `redrive`. `DrainCounts` grow as segments are stored (``tidal dlq drain``
exports them at ``/metrics``). Called by ``tidal dlq`` (`tidal.cli.dlq`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from tidal.archive.errors import PublishFailed
from tidal.archive.filters import BINARY_PREFIX, Selection, attributes, record_time
from tidal.archive.keys import (
    DLQ,
    DlqKey,
    compression_of,
    dlq_segment_key,
    parse_dlq_key,
    time_slice,
    type_part,
)
from tidal.archive.ratelimit import RateLimiter
from tidal.archive.segments import Compression, Record, pack, unpack
from tidal.archive.store import AlreadyExists, ObjectStore, StoredObject
from tidal.deadletters import FAILURE_EXTENSIONS, TOPIC
from tidal.transports.kafka.fitting import CLAIM, OVERSIZE

Progress = Callable[[int, int], None]
Bucket = tuple[str, int, str, str | None]  # topic, partition, time slice, event type


@dataclass(frozen=True, kw_only=True)
class Layout:
    granularity: str = "hour"  # or "day"
    by_type: bool = True
    compression: Compression = "zstd"
    max_events: int = 10_000
    max_age: timedelta = timedelta(minutes=5)


@dataclass
class DrainCounts:
    """What a drain has stored so far; updated as each segment is stored, so ``tidal dlq
    drain`` exports it live (`tidal.observability.Drained`). Duplicates: letters of segments
    found already stored (re-read after a crash), not counted in ``events``."""

    events: int = 0
    objects: int = 0
    bytes: int = 0
    duplicates: int = 0


@dataclass
class _Open:
    records: list[Any] = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class Drainer:
    """Buffers of open segments and the offsets that are safe to commit."""

    def __init__(
        self,
        store: ObjectStore,
        layout: Layout,
        progress: Progress | None,
        counts: DrainCounts | None = None,
    ) -> None:
        self.store, self.layout, self.progress = store, layout, progress
        self.open: dict[Bucket, _Open] = {}
        self.counts = DrainCounts() if counts is None else counts

    def bucket(self, record: Any) -> Bucket:
        attrs = attributes(record)
        moment = record_time(record, attrs, failure_time=True)
        event_type = (attrs.get("type") or "") if self.layout.by_type else None
        slice_ = time_slice(moment, self.layout.granularity)
        return (record.topic, record.partition, slice_, event_type)

    def add(self, records: Sequence[Any]) -> list[Bucket]:
        """Buffer ``records``; returns the buckets now full."""
        full = []
        for record in records:
            bucket = self.bucket(record)
            buffer = self.open.setdefault(bucket, _Open())
            buffer.records.append(record)
            if len(buffer.records) >= self.layout.max_events:
                full.append(bucket)
        return full

    def expired(self) -> list[Bucket]:
        limit = time.monotonic() - self.layout.max_age.total_seconds()
        return [b for b, o in self.open.items() if o.opened <= limit]

    def upload(self, bucket: Bucket) -> None:
        """Close the bucket's segment and store it. Blocking."""
        buffer = self.open.pop(bucket, None)
        if buffer is None or not buffer.records:
            return
        topic, partition, slice_, event_type = bucket
        records = buffer.records
        key = dlq_segment_key(
            topic,
            slice_,
            event_type,
            partition,
            records[0].offset,
            records[-1].offset,
            len(records),
            self.layout.compression,
        )
        body = pack(records, self.layout.compression)
        try:
            stored = self.store.put_new(key, body)
        except AlreadyExists:  # the same records, drained before a crash
            self.counts.duplicates += len(records)
            return
        self.counts.events += len(records)
        self.counts.objects += 1
        self.counts.bytes += len(stored)
        if self.progress is not None:
            self.progress(len(records), len(stored))

    def safe_offsets(self, positions: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Per partition: the consumer's position, or the first record still held open."""
        safe = dict(positions)
        for (topic, partition, _, _), buffer in self.open.items():
            tp = TopicPartition(topic, partition)
            if tp in safe:
                safe[tp] = min(safe[tp], buffer.records[0].offset)
        return safe

    def of(self, tps: set[TopicPartition]) -> list[Bucket]:
        return [b for b in self.open if TopicPartition(b[0], b[1]) in tps]


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions go to another drainer, upload and commit what is held for them."""

    def __init__(self, drainer: Drainer, client: Any) -> None:
        self.drainer, self.client = drainer, client

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await _close(self.drainer, self.client, self.drainer.of(set(revoked)))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


async def _close(drainer: Drainer, client: Any, buckets: Sequence[Any]) -> None:
    for bucket in buckets:
        await asyncio.to_thread(drainer.upload, bucket)
    positions = {tp: await client.position(tp) for tp in client.assignment()}
    safe = drainer.safe_offsets(positions)
    if safe:
        await client.commit(safe)


async def drain(
    client: Any,
    store: ObjectStore,
    topics: Sequence[str],
    layout: Layout,
    *,
    stop: asyncio.Event,
    idle_exit: float | None = None,
    progress: Progress | None = None,
    counts: DrainCounts | None = None,
) -> DrainCounts:
    """Drain until ``stop`` is set (or nothing came for ``idle_exit`` seconds); what is held
    is uploaded and committed before returning. ``client``: a started group consumer;
    ``counts``: updated as segments are stored (for live export), returned."""
    drainer = Drainer(store, layout, progress, counts)
    client.subscribe(list(topics), listener=_Revoked(drainer, client))
    idle_since = time.monotonic()
    while not stop.is_set():
        batches = await client.getmany(timeout_ms=500, max_records=5000)
        records = [r for rs in batches.values() for r in rs]
        if records or not client.assignment():  # idle only counts once partitions are held
            idle_since = time.monotonic()
        done = drainer.add(records) + drainer.expired()
        if done:
            await _close(drainer, client, done)
        if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
            break
    await _close(drainer, client, list(drainer.open))
    return drainer.counts


# -- reading the archive back ------------------------------------------------------------------


def in_window(
    parsed: DlqKey,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    types: Sequence[str] = (),
) -> bool:
    """Whether a segment can hold letters of that time window and those types (from its key
    alone; a layout without types can hold any)."""
    if since is not None and parsed.end <= since:
        return False
    if until is not None and parsed.start >= until:
        return False
    safe_types = {type_part(t)[len("type=") :] for t in types}
    return not (types and parsed.event_type is not None and parsed.event_type not in safe_types)


def segments(
    store: ObjectStore, *, topics: Sequence[str] = ()
) -> Iterator[tuple[str, DlqKey, int]]:
    """(key, parsed key, size) of the archived segments of ``topics`` (all when empty)."""
    prefixes = [f"{DLQ}{t}/" for t in topics] or [DLQ]
    for prefix in prefixes:
        for item in store.objects(prefix):
            parsed = parse_dlq_key(item.key)
            if parsed is not None:
                yield item.key, parsed, item.size


def letters(
    store: ObjectStore, keys: Sequence[tuple[str, DlqKey, int]]
) -> Iterator[tuple[DlqKey, Record]]:
    """(segment key, record) of each segment in turn, each letter once."""
    seen: set[tuple[str, int, int]] = set()
    for key, parsed, _ in keys:
        data = store.get(key)
        if data is None:
            continue
        for record in unpack(data, compression_of(key)):
            ident = (parsed.topic, parsed.partition, record.offset)
            if ident in seen:
                continue
            seen.add(ident)
            yield parsed, record


@dataclass(frozen=True)
class Pruned:
    deleted_objects: int
    deleted_bytes: int
    objects: int
    events: int
    bytes: int


def prune(store: ObjectStore, *, now: datetime, max_age: timedelta) -> Pruned:
    """Delete every segment whose time slice ended more than ``max_age`` ago."""
    doomed: list[tuple[StoredObject, DlqKey]] = []
    kept: list[tuple[StoredObject, DlqKey]] = []
    for item in store.objects(DLQ):
        parsed = parse_dlq_key(item.key)
        if parsed is None:
            continue
        (doomed if now - parsed.end > max_age else kept).append((item, parsed))
    store.delete([item.key for item, _ in doomed])
    return Pruned(
        deleted_objects=len(doomed),
        deleted_bytes=sum(item.size for item, _ in doomed),
        objects=len(kept),
        events=sum(p.count for _, p in kept),
        bytes=sum(item.size for item, _ in kept),
    )


# -- re-drive ------------------------------------------------------------------------------


def value_dropped(record: Record) -> bool:
    """Whether the worker dead-lettered ``record`` without its value (too large for the DLQ
    topic, no claim-check store: `tidal.transports.kafka.fitting`). Re-driving it would send
    an empty event; the original is still at its ``tidaltopic`` / ``tidaloffset`` until the
    topic's retention removes it."""
    names = {name for name, _ in record.headers}
    return OVERSIZE in names and CLAIM not in names


def original_record(record: Record) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """(key, value, headers) of the record as it was before it was dead-lettered."""
    failure = set(FAILURE_EXTENSIONS)
    headers = []
    structured = False
    for name, raw in record.headers:
        lower = name.lower()
        if lower == "content-type" and raw.startswith(b"application/cloudevents"):
            structured = True
        if lower in failure or (
            lower.startswith(BINARY_PREFIX) and lower[len(BINARY_PREFIX) :] in failure
        ):
            continue
        headers.append((name, raw))
    value = record.value
    if structured and value:
        try:
            body = json.loads(value)
        except ValueError:
            body = None
        if isinstance(body, dict):
            cleaned = {k: v for k, v in body.items() if k not in failure}
            value = json.dumps(cleaned, separators=(",", ":")).encode("utf-8")
    return record.key, value, headers


@dataclass
class RedriveCounts:
    redriven: int = 0
    skipped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"redriven": self.redriven, "skipped": self.skipped, "failed": self.failed}


async def redrive(
    store: ObjectStore,
    producer: Any,
    selection: Selection,
    *,
    to_topic: str | None,
    limiter: RateLimiter,
    dry_run: bool,
    topics: Sequence[str] = (),
    progress: Progress | None = None,
) -> RedriveCounts:
    """Publish the selected letters again, each to its original topic (or ``to_topic``)."""
    counts = RedriveCounts()
    keys = []
    for found in segments(store, topics=topics):
        if in_window(found[1], since=selection.since, until=selection.until, types=selection.types):
            keys.append(found)
        else:
            counts.skipped += found[1].count
    pending = []
    for _, record in await asyncio.to_thread(lambda: list(letters(store, keys))):
        if not selection.matches(record):
            counts.skipped += 1
            continue
        target = to_topic or attributes(record).get(TOPIC)
        if not target or value_dropped(record):  # nowhere to go, or nothing whole to send
            counts.failed += 1
            continue
        await limiter.take()
        counts.redriven += 1
        if not dry_run:
            key, value, headers = original_record(record)
            try:
                pending.append(await producer.send(target, key=key, value=value, headers=headers))
            except KafkaError as exc:
                raise PublishFailed(f"re-driving to {target}: {exc}") from exc
        if progress is not None:
            progress(1, len(record.value or b""))
    try:
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise PublishFailed(f"re-drive not acknowledged: {exc}") from exc
    return counts


def letter_id(parsed: DlqKey, record: Record) -> str:
    """How ``tidal dlq show`` names a letter: ``<dlq topic>/<partition>/<offset>``."""
    return f"{parsed.topic}/{parsed.partition}/{record.offset}"
