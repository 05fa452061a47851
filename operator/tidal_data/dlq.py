"""Dead-letter archive: drain DLQ topics into the store, prune it, list and find letters.

`drain` consumes the dead-letter topics in a consumer group (the one KEDA scales on), groups
records by topic, partition, time slice (of the last failure) and, optionally, event type, and
closes a segment at ``max_events`` or ``max_age``. Offsets are committed only below every
record still held in an open segment, so a crash re-reads (and a segment cut the same way finds
its key taken and is skipped). An archive's letters lie under its own scope
(``dlq/archive=<namespace>.<name>/``): `prune` deletes the slices of one scope older than the
retention, never another archive's; `segments` and `letters` read archived letters back,
de-duplicated, one segment at a time (re-drive: `tidal_data.redrive`). `DrainCounts` grow as
segments are stored (``tidal dlq drain`` exports them at ``/metrics``). Called by ``tidal dlq``
(`tidal_data.cli.dlq`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from tidal_data.filters import attributes, record_time
from tidal_data.kafka import ConsumerRebalanceListener, TopicPartition
from tidal_data.keys import (
    DLQ,
    DlqKey,
    compression_of,
    dlq_root,
    dlq_segment_key,
    parse_dlq_key,
    time_slice,
    type_part,
)
from tidal_data.segments import Compression, Record, pack, unpack
from tidal_data.store import AlreadyExists, ObjectStore, StoredObject

Progress = Callable[[int, int], None]
Bucket = tuple[str, int, str, str | None]  # topic, partition, time slice, event type


@dataclass(frozen=True, kw_only=True)
class Layout:
    granularity: str = "hour"  # or "day"
    by_type: bool = True
    compression: Compression = "zstd"
    max_events: int = 10_000
    max_age: timedelta = timedelta(minutes=5)
    scope: str | None = None
    """The archive's key scope (`tidal_data.keys.scope_of` of ``--archive``)."""


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
            self.layout.scope,
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


ALL_SCOPES: Final = "*"
"""`segments`' scope meaning every archive's letters and the unscoped ones."""


def segments(
    store: ObjectStore, *, topics: Sequence[str] = (), scope: str | None = ALL_SCOPES
) -> Iterator[tuple[str, DlqKey, int]]:
    """(key, parsed key, size) of the archived segments of ``topics`` (all when empty) of one
    archive's ``scope`` (None: the unscoped letters only; `ALL_SCOPES`: every letter)."""
    root = DLQ if scope in (None, ALL_SCOPES) else dlq_root(scope)
    prefixes = [f"{root}{t}/" for t in topics] if scope != ALL_SCOPES else []
    for prefix in prefixes or [root]:
        for item in store.objects(prefix):
            parsed = parse_dlq_key(item.key)
            if parsed is None or (scope != ALL_SCOPES and parsed.scope != scope):
                continue
            if topics and parsed.topic not in topics:
                continue
            yield item.key, parsed, item.size


def letters(
    store: ObjectStore, keys: Iterable[tuple[str, DlqKey, int]]
) -> Iterator[tuple[DlqKey, Record]]:
    """(segment key, record) of each segment in turn (one segment in memory at a time), each
    letter once."""
    seen: set[Seen] = set()
    for key, parsed, _ in keys:
        for record in segment_letters(store, key, parsed, seen):
            yield parsed, record


Seen = tuple[str | None, str, int, int]


def segment_letters(store: ObjectStore, key: str, parsed: DlqKey, seen: set[Seen]) -> list[Record]:
    """The letters of one segment not in ``seen`` (which grows by them). Blocking."""
    data = store.get(key)
    if data is None:
        return []
    found = []
    for record in unpack(data, compression_of(key)):
        ident = (parsed.scope, parsed.topic, parsed.partition, record.offset)
        if ident not in seen:
            seen.add(ident)
            found.append(record)
    return found


def letter_id(parsed: DlqKey, record: Record) -> str:
    """How ``tidal dlq show`` names a letter: ``<dlq topic>/<partition>/<offset>``."""
    return f"{parsed.topic}/{parsed.partition}/{record.offset}"


@dataclass(frozen=True)
class Pruned:
    deleted_objects: int
    deleted_bytes: int
    objects: int
    events: int
    bytes: int


def prune(
    store: ObjectStore, *, now: datetime, max_age: timedelta, scope: str | None = None
) -> Pruned:
    """Delete every segment of one archive's ``scope`` (None: the unscoped letters) whose time
    slice ended more than ``max_age`` ago; another archive's letters are never looked at."""
    doomed: list[tuple[StoredObject, DlqKey]] = []
    kept: list[tuple[StoredObject, DlqKey]] = []
    for item in store.objects(dlq_root(scope)):
        parsed = parse_dlq_key(item.key)
        if parsed is None or parsed.scope != scope:
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
