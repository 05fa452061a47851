"""The archiver: read a backup's partitions from Kafka and upload them as segments.

`archive` consumes each partition of a `Manifest` from its ``next`` offset up to its ``end``,
cuts the records into segments (``max_events`` / ``max_bytes``), and uploads them one at a
time in the order read, on a worker thread, while the consumer keeps fetching. After each upload
the manifest is rewritten, so a run killed at any point resumes from the last recorded offset:
no gap and no duplicate. A segment uploaded but not yet recorded (a crash in between) has the
same key when it is cut again; the never-overwrite put then finds it, and it is adopted after
its records were checked to be exactly the ones expected.

A partition that cannot be read to its end is not waited for forever nor skipped silently: the
offsets it misses become a `Gap` in the manifest, in order with its segments. Records deleted
under the run (the log start moved past the position: ``OffsetOutOfRange``, which the consumer
reports instead of jumping to the log start), a log that now ends below the listed end
(``LogTruncated``), a topic deleted meanwhile (``TopicDeleted``), a topic the run may not read
(``TopicAuthorizationFailed``) and a partition that yields nothing while fetches run for
``read_timeout`` seconds (``ReadTimeout``) each end that partition's read. Called by ``tidal
archive`` and ``tidal backup run``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tidal_data.errors import CorruptSegment, StoreError
from tidal_data.kafka import (
    OffsetOutOfRangeError,
    TopicAuthorizationFailedError,
    TopicPartition,
)
from tidal_data.keys import manifest_key, segment_key
from tidal_data.manifest import Gap, Manifest, Segment
from tidal_data.segments import Record, pack, unpack
from tidal_data.store import AlreadyExists, ObjectStore

Progress = Callable[[int, int], None]
"""Called with (events, bytes) after each uploaded segment."""

QUEUE_SEGMENTS: Final = 4
FETCH_RECORDS: Final = 5000
PARALLEL_UPLOADS: Final = 3
MANIFEST_INTERVAL: Final = 1.0
RECORD_OVERHEAD: Final = 64  # key, headers and framing of a record, roughly
READ_TIMEOUT: Final = 120.0
"""Seconds of fetching in which a partition below its end yields nothing before its read ends
with a gap (time spent waiting for uploads does not count)."""


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


Item = Cut | Gap


def _ready(gap: Gap) -> asyncio.Future[Segment | Gap]:
    done: asyncio.Future[Segment | Gap] = asyncio.get_running_loop().create_future()
    done.set_result(gap)
    return done


async def _upload(
    store: ObjectStore,
    manifest: Manifest,
    queue: asyncio.Queue[Item | None],
    progress: Progress | None,
    interval: float,
) -> None:
    """Build up to `PARALLEL_UPLOADS` segments at once; record them (and gaps) in the order
    they were queued (which keeps every partition's segments in offset order), and rewrite the
    manifest at most every ``interval`` seconds and at the end."""
    in_flight: deque[asyncio.Future[Segment | Gap]] = deque()
    saved = time.monotonic()
    more = True
    while more or in_flight:
        if more and len(in_flight) < PARALLEL_UPLOADS:
            cut = await queue.get()
            if cut is None:
                more = False
            elif isinstance(cut, Gap):
                in_flight.append(_ready(cut))
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
        if isinstance(segment, Gap):
            manifest.record_gap(segment)
            continue
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
    read_timeout: float = READ_TIMEOUT,
    progress: Progress | None = None,
) -> None:
    """Upload every partition of ``manifest`` from ``next`` to ``end`` (``client``: a started
    consumer without a group, ``auto_offset_reset="none"`` so that records deleted under the
    run are reported rather than skipped), rewriting the manifest every ``manifest_interval``
    seconds; what cannot be read becomes a gap."""
    pending = {
        TopicPartition(p.topic, p.partition): p.end for p in manifest.partitions if not p.done
    }
    if not pending:
        return
    client.assign(list(pending))
    for tp in pending:
        client.seek(tp, manifest.partition(tp.topic, tp.partition).next)
    queue: asyncio.Queue[Item | None] = asyncio.Queue(QUEUE_SEGMENTS)
    uploader = asyncio.create_task(_upload(store, manifest, queue, progress, manifest_interval))
    reading = _Reading(client, pending, _Cutter(max_events, max_bytes), queue, uploader)
    try:
        await reading.run(read_timeout)
        await queue.put(None)
        await uploader
    finally:
        if not uploader.done():
            uploader.cancel()
            await asyncio.gather(uploader, return_exceptions=True)
        # no unsubscribe: aiokafka's fetcher, stopped while it drops an assignment, can
        # swallow its cancellation and wait for an assignment forever


@dataclass
class _Reading:
    """One archive pass: the partitions still below their end and where their records go."""

    client: Any
    pending: dict[TopicPartition, int]
    cutter: _Cutter
    queue: asyncio.Queue[Item | None]
    uploader: asyncio.Task[None]

    async def run(self, read_timeout: float) -> None:
        idle = dict.fromkeys(self.pending, 0.0)
        while self.pending:
            if self.uploader.done():
                self.uploader.result()  # raises the upload's failure
                return
            began = time.monotonic()
            try:
                batches = await self.client.getmany(timeout_ms=500, max_records=FETCH_RECORDS)
            except OffsetOutOfRangeError as exc:
                named = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
                ours = [tp for tp in named if tp in self.pending]
                if not ours:
                    raise  # not one of this run's partitions: nothing to note it against
                for tp in ours:
                    await self._out_of_range(tp)
                continue
            except TopicAuthorizationFailedError as exc:
                denied = str(exc.args[0]) if exc.args else ""
                for tp in [tp for tp in self.pending if tp.topic == denied]:
                    await self._give_up(tp, "TopicAuthorizationFailed")
                if not denied:
                    raise
                continue
            waited = time.monotonic() - began
            for tp, records in batches.items():
                end = self.pending.get(tp)
                if end is None or not records:
                    continue
                idle[tp] = 0.0
                wanted = (
                    records if records[-1].offset < end else [r for r in records if r.offset < end]
                )
                for cut in self.cutter.add(tp, wanted):
                    await _put(self.queue, cut, self.uploader)
            for tp in list(self.pending):
                if await self.client.position(tp) >= self.pending[tp]:
                    await self._finish(tp)
                elif tp not in batches:
                    idle[tp] += waited
                    if idle[tp] >= read_timeout:
                        await self._give_up(tp, await self._why(tp))

    async def _finish(self, tp: TopicPartition, gap: Gap | None = None) -> None:
        """Stop reading ``tp``: queue what is buffered, then the gap if any."""
        del self.pending[tp]
        self.client.pause(tp)
        for cut in self.cutter.flush(tp):
            await _put(self.queue, cut, self.uploader)
        if gap is not None:
            await _put(self.queue, gap, self.uploader)

    async def _give_up(self, tp: TopicPartition, reason: str) -> None:
        position = await self.client.position(tp)
        end = self.pending[tp]
        gap = Gap(topic=tp.topic, partition=tp.partition, first=position, end=end, reason=reason)
        await self._finish(tp, gap)

    async def _why(self, tp: TopicPartition) -> str:
        """Why a partition stopped yielding records below its end."""
        if tp.topic not in await self.client.topics():
            return "TopicDeleted"
        highwater = self.client.highwater(tp)
        if highwater is not None and highwater < self.pending[tp]:
            return "LogTruncated"
        return "ReadTimeout"

    async def _out_of_range(self, tp: TopicPartition) -> None:
        """The position is no longer in the log: below its start (records deleted under the
        run: skip to the start, noting the gap) or past its end (the log was truncated)."""
        position = await self.client.position(tp)
        end = self.pending[tp]
        start = (await self.client.beginning_offsets([tp]))[tp]
        for cut in self.cutter.flush(tp):
            await _put(self.queue, cut, self.uploader)
        if start <= position:
            await self._give_up(tp, "LogTruncated")
            return
        gap = Gap(topic=tp.topic, partition=tp.partition, first=position, end=min(start, end),
                  reason="OffsetOutOfRange")  # fmt: skip
        if start >= end:
            await self._finish(tp, gap)
            return
        await _put(self.queue, gap, self.uploader)
        self.client.seek(tp, start)


async def _put(queue: asyncio.Queue[Item | None], cut: Item, uploader: asyncio.Task[None]) -> None:
    """Queue ``cut``, unless the uploader has failed (its error is raised then)."""
    put = asyncio.ensure_future(queue.put(cut))
    await asyncio.wait({put, uploader}, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()
        uploader.result()
    if uploader.done():
        uploader.result()
