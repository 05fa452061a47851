"""The archiver: read a backup's partitions from Kafka and upload them as segments.

`archive` consumes each partition of a `Manifest` from its ``next`` offset up to its ``end``,
cuts the records into segments (``max_events`` / ``max_bytes``), and uploads them one at a
time in the order read, on a worker thread, while the consumer keeps fetching. After each upload
the manifest is rewritten, so a run killed at any point resumes from the last recorded offset:
no gap and no duplicate. A segment uploaded but not yet recorded (a crash in between) has the
same key when it is cut again; the never-overwrite put then finds it, and it is adopted after
its records were checked to be exactly the ones expected. Called by ``tidal archive`` and
``tidal backup run``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import TopicPartition

from tidal.archive.errors import CorruptSegment, StoreError
from tidal.archive.keys import manifest_key, segment_key
from tidal.archive.manifest import Manifest, Segment
from tidal.archive.segments import Record, pack, unpack
from tidal.archive.store import AlreadyExists, ObjectStore

Progress = Callable[[int, int], None]
"""Called with (events, bytes) after each uploaded segment."""

QUEUE_SEGMENTS: Final = 4
FETCH_RECORDS: Final = 5000
PARALLEL_UPLOADS: Final = 3
MANIFEST_INTERVAL: Final = 1.0
RECORD_OVERHEAD: Final = 64  # key, headers and framing of a record, roughly


@dataclass(frozen=True)
class Cut:
    """Records of one partition, ready to become a segment."""

    topic: str
    partition: int
    records: Sequence[Any]  # aiokafka ConsumerRecords or `Record`s: same attributes


def build_segment(store: ObjectStore, manifest: Manifest, cut: Cut) -> Segment:
    """Encode, compress, (encrypt and) upload ``cut``; never replaces an object. Blocking."""
    records = cut.records
    first, last = records[0].offset, records[-1].offset
    key = segment_key(
        manifest.id, cut.topic, cut.partition, first, last, manifest.compression, manifest.scope
    )
    body = pack(records, manifest.compression)
    metadata = {"count": str(len(records)), "first": str(first), "last": str(last)}
    try:
        stored = store.put_new(key, body, metadata=metadata)
    except AlreadyExists:
        stored = _adopt(store, key, records, manifest)
    timestamps = [r.timestamp for r in records]
    return Segment(
        key=key,
        topic=cut.topic,
        partition=cut.partition,
        first=first,
        last=last,
        count=len(records),
        bytes=len(stored),
        sha256=hashlib.sha256(stored).hexdigest(),
        min_timestamp=min(timestamps),
        max_timestamp=max(timestamps),
    )


def _adopt(store: ObjectStore, key: str, records: Sequence[Any], manifest: Manifest) -> bytes:
    """An earlier run uploaded ``key`` and died before recording it: keep it if it holds
    exactly these records, refuse otherwise."""
    stored = store.get_raw(key)
    if stored is None:
        raise StoreError(f"{key} exists and cannot be read")
    try:
        found = unpack(store.reveal(key, stored), manifest.compression)
    except CorruptSegment as exc:
        raise StoreError(f"{key} exists from an earlier run and is unreadable: {exc}") from exc
    expected = [Record(r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in records]
    if found != expected:
        raise StoreError(
            f"{key} exists from an earlier run with other records", reason="KeyConflict"
        )
    return stored


def save_manifest(store: ObjectStore, manifest: Manifest) -> None:
    store.put(manifest_key(manifest.id, manifest.scope), manifest.to_json())


class _Cutter:
    """Per-partition buffers of records being read, cut into segments."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events, self.max_bytes = max_events, max_bytes
        self.buffers: dict[TopicPartition, list[Any]] = {}
        self.sizes: dict[TopicPartition, int] = {}

    def add(self, tp: TopicPartition, records: Sequence[Any]) -> list[Cut]:
        buffer = self.buffers.setdefault(tp, [])
        size = self.sizes.get(tp, 0)
        cuts = []
        start = 0
        while start < len(records):
            room = self.max_events - len(buffer)
            chunk = records[start : start + room]
            chunk_size = sum(len(r.value or b"") for r in chunk) + RECORD_OVERHEAD * len(chunk)
            if size + chunk_size > self.max_bytes and len(chunk) > 1:  # rare: cut by bytes
                chunk = chunk[: max(1, len(chunk) // 2)]
                chunk_size = sum(len(r.value or b"") for r in chunk) + RECORD_OVERHEAD * len(chunk)
            buffer.extend(chunk)
            size += chunk_size
            start += len(chunk)
            if len(buffer) >= self.max_events or size >= self.max_bytes:
                cuts.append(Cut(tp.topic, tp.partition, buffer))
                buffer, size = [], 0
        self.buffers[tp], self.sizes[tp] = buffer, size
        return cuts

    def flush(self, tp: TopicPartition) -> list[Cut]:
        buffer = self.buffers.pop(tp, [])
        self.sizes.pop(tp, None)
        return [Cut(tp.topic, tp.partition, buffer)] if buffer else []


async def _upload(
    store: ObjectStore,
    manifest: Manifest,
    queue: asyncio.Queue[Cut | None],
    progress: Progress | None,
    interval: float,
) -> None:
    """Build up to `PARALLEL_UPLOADS` segments at once; record them in the order they were
    cut (which keeps every partition's segments in offset order), and rewrite the manifest at
    most every ``interval`` seconds and at the end."""
    in_flight: deque[asyncio.Future[Segment]] = deque()
    saved = time.monotonic()
    more = True
    while more or in_flight:
        if more and len(in_flight) < PARALLEL_UPLOADS:
            cut = await queue.get()
            if cut is None:
                more = False
            else:
                in_flight.append(
                    asyncio.ensure_future(asyncio.to_thread(build_segment, store, manifest, cut))
                )
            if more and len(in_flight) < PARALLEL_UPLOADS and not in_flight[0].done():
                continue
        if not in_flight:
            break
        try:
            segment = await in_flight.popleft()
        except BaseException:
            for pending in in_flight:
                pending.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        manifest.record(segment)
        if time.monotonic() - saved >= interval:
            await asyncio.to_thread(save_manifest, store, manifest)
            saved = time.monotonic()
        if progress is not None:
            progress(segment.count, segment.bytes)
    await asyncio.to_thread(save_manifest, store, manifest)


async def archive(
    client: Any,
    store: ObjectStore,
    manifest: Manifest,
    *,
    max_events: int = 10_000,
    max_bytes: int = 16 * 1024 * 1024,
    manifest_interval: float = MANIFEST_INTERVAL,
    progress: Progress | None = None,
) -> None:
    """Upload every partition of ``manifest`` from ``next`` to ``end`` (``client``: a started
    consumer without a group), rewriting the manifest every ``manifest_interval`` seconds."""
    pending = {
        TopicPartition(p.topic, p.partition): p.end for p in manifest.partitions if not p.done
    }
    if not pending:
        return
    client.assign(list(pending))
    for tp in pending:
        client.seek(tp, manifest.partition(tp.topic, tp.partition).next)
    queue: asyncio.Queue[Cut | None] = asyncio.Queue(QUEUE_SEGMENTS)
    uploader = asyncio.create_task(_upload(store, manifest, queue, progress, manifest_interval))
    cutter = _Cutter(max_events, max_bytes)
    try:
        await _read(client, pending, cutter, queue, uploader)
        await queue.put(None)
        await uploader
    finally:
        if not uploader.done():
            uploader.cancel()
            await asyncio.gather(uploader, return_exceptions=True)
        # no unsubscribe: aiokafka's fetcher, stopped while it drops an assignment, can
        # swallow its cancellation and wait for an assignment forever


async def _read(
    client: Any,
    pending: dict[TopicPartition, int],
    cutter: _Cutter,
    queue: asyncio.Queue[Cut | None],
    uploader: asyncio.Task[None],
) -> None:
    while pending:
        if uploader.done():
            uploader.result()  # raises the upload's failure
            return
        batches = await client.getmany(timeout_ms=500, max_records=FETCH_RECORDS)
        for tp, records in batches.items():
            end = pending.get(tp)
            if end is None:
                continue
            wanted = records if records[-1].offset < end else [r for r in records if r.offset < end]
            for cut in cutter.add(tp, wanted):
                await _put(queue, cut, uploader)
        finished = [tp for tp, end in pending.items() if await client.position(tp) >= end]
        for tp in finished:
            del pending[tp]
            client.pause(tp)
            for cut in cutter.flush(tp):
                await _put(queue, cut, uploader)


async def _put(queue: asyncio.Queue[Cut | None], cut: Cut, uploader: asyncio.Task[None]) -> None:
    """Queue ``cut``, unless the uploader has failed (its error is raised then)."""
    put = asyncio.ensure_future(queue.put(cut))
    await asyncio.wait({put, uploader}, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()
        uploader.result()
    if uploader.done():
        uploader.result()
