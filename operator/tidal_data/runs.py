"""Whole data-plane runs: archive into a backup (new or resumed), back up (archive, verify,
retention), continuously or once.

`tidal_data.cli.archive` and `tidal_data.cli.backup` call these with a started consumer and a store;
everything here is library code free of click, so tests and the benchmark call it directly.
A selected topic the source does not have is recorded in the manifest (``missingTopics``), and so
are the offsets of a partition that could not be read to its end (its ``gaps``, see
`tidal_data.writer`); the run still backs up the rest and its command reports PartiallyFailed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal.kafka import KafkaSettings
from tidal_data import backups, pruning
from tidal_data.durations import backup_id, format_time
from tidal_data.errors import BackupNotFound, ChecksumMismatch
from tidal_data.groups import as_manifest, committed
from tidal_data.kafka import offset_ranges, partitions, select_topics
from tidal_data.keys import scope_of
from tidal_data.manifest import Gap, Manifest, Partition
from tidal_data.segments import Compression
from tidal_data.store import ObjectStore
from tidal_data.topics import describe
from tidal_data.writer import (
    MANIFEST_INTERVAL,
    READ_TIMEOUT,
    Progress,
    archive,
    save_manifest,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Sources:
    """Which topics: names, include and exclude patterns (``select_topics``)."""

    topics: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ArchiveOptions:
    compression: Compression = "zstd"
    encryption: str = "none"
    policy: str | None = None
    identifier: str | None = None
    restore_target: dict[str, str] | None = None
    kafka: KafkaSettings | None = None
    """The source's settings: when given, its cluster and topic configs are recorded."""
    groups: tuple[str, ...] = ()
    """Consumer groups whose committed offsets are backed up (needs ``kafka``)."""
    max_events: int = 10_000
    max_bytes: int = 16 * 1024 * 1024
    manifest_interval: float = MANIFEST_INTERVAL
    read_timeout: float = READ_TIMEOUT
    """Seconds a partition below its end may yield nothing before its read ends (a gap)."""


@dataclass(frozen=True, kw_only=True)
class Retention:
    max_age: timedelta | None = None
    max_count: int | None = None
    keep_last_verified: bool = True


@dataclass
class BackupReport:
    """What one backup run wrote and found: its manifest, the events, segments and bytes it
    added, whether it resumed an unfinished backup, what retention deleted and what the store
    holds; the commands turn it into the run result (``counts``, ``backup``, ``stored``). Was
    ``Outcome``, a word tidal also uses for a delivery's end, a filter's value and the
    ``Tidal-Outcome`` header."""

    manifest: Manifest
    events: int = 0
    objects: int = 0
    bytes: int = 0
    resumed: bool = False
    deleted: list[str] = field(default_factory=list)
    stored: pruning.Stored | None = None

    @property
    def missing(self) -> list[str]:
        """Selected topics the source did not have (the run is PartiallyFailed)."""
        return list(self.manifest.missing_topics)

    @property
    def gaps(self) -> list[Gap]:
        """Offsets of partitions that could not be read (the run is PartiallyFailed)."""
        return self.manifest.gaps()


Ranges = dict[tuple[str, int], tuple[int, int]]


async def _ranges(client: Any, sources: Sources) -> tuple[Ranges, list[str]]:
    """The offset ranges of the selected topics, and the named ones that do not exist."""
    available = set(await client.topics())
    chosen = select_topics(
        available, names=sources.topics, include=sources.include, exclude=sources.exclude
    )
    found = await offset_ranges(client, await partitions(client, chosen))
    missing = sorted(t for t in sources.topics if t not in available)
    return {(tp.topic, tp.partition): span for tp, span in found.items()}, missing


async def _described(
    options: ArchiveOptions, ranges: Ranges, missing: list[str], store: ObjectStore
) -> Manifest:
    """The manifest's descriptive fields: source cluster, topics, missing topics, key id."""
    extra = Manifest(id="", created_at="", compression=options.compression, encryption="")
    cipher = store.config.cipher
    extra.missing_topics, extra.key_id = missing, cipher.key_id if cipher else None
    if options.kafka is not None:
        cluster, extra.topics_info = await describe(options.kafka, sorted({t for t, _ in ranges}))
        extra.source = cluster.as_dict()
        found = await committed(options.kafka, options.groups, sorted(ranges))
        extra.groups = as_manifest(found)
    return extra


async def archive_backup(
    client: Any,
    store: ObjectStore,
    sources: Sources,
    options: ArchiveOptions,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> BackupReport:
    """Archive into backup ``options.identifier`` (resumed if it exists), or into this policy's
    unfinished backup, or into a new one up to the current log ends; then mark it complete."""
    manifest = _existing(store, options)
    resumed = manifest is not None
    if manifest is None:
        manifest = await start_backup(client, store, sources, options, now=now)
    report = BackupReport(manifest=manifest, resumed=resumed)
    await _fill(client, store, report, options, progress)
    if manifest.state != "complete":
        manifest.state, manifest.completed_at = "complete", format_time(utcnow())
        save_manifest(store, manifest)
    return report


async def start_backup(
    client: Any, store: ObjectStore, sources: Sources, options: ArchiveOptions, *, now: datetime
) -> Manifest:
    """List the selected partitions' offset ranges and write the new backup's (open) manifest:
    the first step of a run; a run that stops after it is resumed from here."""
    ranges, missing = await _ranges(client, sources)
    return backups.create(
        store,
        now=now,
        ranges=ranges,
        compression=options.compression,
        encryption=options.encryption,
        policy=options.policy,
        identifier=options.identifier,
        restore_target=options.restore_target,
        extra=await _described(options, ranges, missing, store),
    )


def _existing(store: ObjectStore, options: ArchiveOptions) -> Manifest | None:
    if options.identifier is not None:
        try:
            return backups.load(store, options.identifier, scope_of(options.policy))
        except BackupNotFound:
            return None
    return backups.open_backup(store, options.policy)


async def _fill(
    client: Any,
    store: ObjectStore,
    report: BackupReport,
    options: ArchiveOptions,
    progress: Progress | None,
) -> None:
    def counted(events: int, size: int) -> None:
        report.events += events
        report.objects += 1
        report.bytes += size
        if progress is not None:
            progress(events, size)

    await archive(
        client,
        store,
        report.manifest,
        max_events=options.max_events,
        max_bytes=options.max_bytes,
        manifest_interval=options.manifest_interval,
        read_timeout=options.read_timeout,
        progress=counted,
    )


def verify_and_mark(
    store: ObjectStore, manifest: Manifest, progress: Progress | None = None
) -> None:
    """Read every segment back and record the outcome in the manifest: verified, or not
    verified with the error (then the error is raised)."""
    try:
        backups.verify(store, manifest, progress)
    except ChecksumMismatch as exc:
        manifest.verified, manifest.verify_error = False, f"{exc.reason}: {exc}"
        manifest.verified_at = format_time(utcnow())
        save_manifest(store, manifest)
        raise
    manifest.verified, manifest.verified_at = True, format_time(utcnow())
    manifest.verify_error = None
    save_manifest(store, manifest)


def retain(
    store: ObjectStore, retention: Retention, *, policy: str | None, now: datetime, keep: str
) -> tuple[list[str], pruning.Stored]:
    return pruning.apply_retention(
        store,
        policy=policy,
        now=now,
        max_age=retention.max_age,
        max_count=retention.max_count,
        keep_last_verified=retention.keep_last_verified,
        keep=frozenset({keep}),
    )


async def backup_once(
    client: Any,
    store: ObjectStore,
    sources: Sources,
    options: ArchiveOptions,
    retention: Retention,
    *,
    now: datetime,
    verify: bool = True,
    progress: Progress | None = None,
) -> BackupReport:
    """``tidal backup run``: archive (or resume), verify every checksum, apply retention."""
    report = await archive_backup(client, store, sources, options, now=now, progress=progress)
    if verify and not report.manifest.verified:
        verify_and_mark(store, report.manifest)
    report.deleted, report.stored = retain(
        store, retention, policy=options.policy, now=now, keep=report.manifest.id
    )
    return report


async def extend(
    client: Any,
    store: ObjectStore,
    sources: Sources,
    options: ArchiveOptions,
    retention: Retention,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> BackupReport:
    """One tick of continuous mode: today's backup (``<day>T00-00-00Z``, started from the log
    start when new) is extended to the current log ends, the new segments are verified and
    the backup is marked verified again; then retention runs."""
    day = backup_id(now.replace(hour=0, minute=0, second=0, microsecond=0))
    policy = options.policy
    try:
        manifest = backups.load(store, day, scope_of(policy))
    except BackupNotFound:
        created = replace(options, identifier=day)
        report = await archive_backup(client, store, sources, created, now=now, progress=progress)
        verify_and_mark(store, report.manifest)
        report.deleted, report.stored = retain(store, retention, policy=policy, now=now, keep=day)
        return report
    before = len(manifest.segments)
    ranges, manifest.missing_topics = await _ranges(client, sources)
    _raise_ends(manifest, ranges)
    manifest.verified = False
    save_manifest(store, manifest)
    report = BackupReport(manifest=manifest, resumed=True)
    await _fill(client, store, report, options, progress)
    fresh = replace(manifest, segments=manifest.segments[before:])
    backups.verify(store, fresh)
    manifest.verified, manifest.verified_at = True, format_time(utcnow())
    manifest.state, manifest.completed_at = "complete", format_time(utcnow())
    save_manifest(store, manifest)
    report.deleted, report.stored = retain(store, retention, policy=policy, now=now, keep=day)
    return report


def _raise_ends(manifest: Manifest, ranges: dict[tuple[str, int], tuple[int, int]]) -> None:
    known = {(p.topic, p.partition): p for p in manifest.partitions}
    for (topic, number), (start, end) in sorted(ranges.items()):
        part = known.get((topic, number))
        if part is None:
            manifest.partitions.append(
                Partition(topic=topic, partition=number, start=start, end=end, next=start)
            )
        else:
            part.end = max(part.end, end)
            if start > part.next:  # records deleted by the source's retention before read
                manifest.record_gap(
                    Gap(topic=topic, partition=number, first=part.next, end=start,
                        reason="OffsetOutOfRange")
                )  # fmt: skip
