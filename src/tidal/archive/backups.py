"""Backups in the store: create or resume one, verify it, list them, apply retention.

A backup is ``backups/<id>/``: its segments and its manifest. Called by ``tidal archive`` and
``tidal backup run`` (`tidal.cli.backup`) and by restore, which reads the newest verified one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidal.archive.durations import backup_id, backup_time, format_time
from tidal.archive.errors import BackupNotFound, ChecksumMismatch, StoreError
from tidal.archive.keys import BACKUPS, MANIFEST, backup_of, backup_prefix, manifest_key
from tidal.archive.manifest import Manifest, Partition
from tidal.archive.retention import BackupInfo, choose_deletions
from tidal.archive.segments import Compression
from tidal.archive.store import AlreadyExists, ObjectStore

CREATE_ATTEMPTS = 30


def load(store: ObjectStore, identifier: str) -> Manifest:
    key = manifest_key(identifier)
    data = store.get(key)
    if data is None:
        raise BackupNotFound(f"no backup {identifier} in {store.config.describe()}")
    return Manifest.from_json(data, key=key)


def manifests(store: ObjectStore) -> list[Manifest]:
    """Every backup that has a manifest, oldest first."""
    found = []
    for item in store.objects(BACKUPS):
        identifier = backup_of(item.key)
        if identifier and item.key == manifest_key(identifier):
            found.append(load(store, identifier))
    return sorted(found, key=lambda m: m.created_at)


def latest_verified(store: ObjectStore) -> Manifest:
    verified = [m for m in manifests(store) if m.verified]
    if not verified:
        raise BackupNotFound(f"no verified backup in {store.config.describe()}")
    return verified[-1]


def open_backup(store: ObjectStore, policy: str | None) -> Manifest | None:
    """The newest unfinished backup of ``policy`` (a crashed run's), to be resumed."""
    unfinished = [m for m in manifests(store) if m.state == "open" and m.policy == policy]
    return unfinished[-1] if unfinished else None


def create(
    store: ObjectStore,
    *,
    now: datetime,
    ranges: dict[tuple[str, int], tuple[int, int]],
    compression: Compression,
    encryption: str,
    policy: str | None,
    identifier: str | None = None,
    restore_target: dict[str, str] | None = None,
) -> Manifest:
    """Write the manifest of a new backup covering ``ranges`` ((topic, partition) -> [start,
    end)); its identifier is the start time (a second later when taken). A given
    ``identifier`` that exists fails (``BackupExists``)."""
    for attempt in range(1 if identifier else CREATE_ATTEMPTS):
        try:
            return _create(
                store,
                identifier or backup_id(now + timedelta(seconds=attempt)),
                now=now,
                ranges=ranges,
                compression=compression,
                encryption=encryption,
                policy=policy,
                restore_target=restore_target,
            )
        except AlreadyExists:
            continue
    raise StoreError(f"backup {identifier or backup_id(now)} exists already", reason="BackupExists")


def _create(
    store: ObjectStore,
    identifier: str,
    *,
    now: datetime,
    ranges: dict[tuple[str, int], tuple[int, int]],
    compression: Compression,
    encryption: str,
    policy: str | None,
    restore_target: dict[str, str] | None,
) -> Manifest:
    manifest = Manifest(
        id=identifier,
        created_at=format_time(now),
        compression=compression,
        encryption=encryption,
        policy=policy,
        restore_target=restore_target,
        partitions=[
            Partition(topic=t, partition=p, start=start, end=end, next=start)
            for (t, p), (start, end) in sorted(ranges.items())
        ],
    )
    store.put_new(manifest_key(manifest.id), manifest.to_json())
    return manifest


def verify(
    store: ObjectStore, manifest: Manifest, progress: Callable[[int, int], None] | None = None
) -> None:
    """Read back every segment and compare its sha256 and size with the manifest's."""
    for segment in manifest.segments:
        stored = store.get_raw(segment.key)
        if stored is None:
            raise ChecksumMismatch(f"segment {segment.key}: missing from the store")
        digest = hashlib.sha256(stored).hexdigest()
        if digest != segment.sha256 or len(stored) != segment.bytes:
            raise ChecksumMismatch(f"segment {segment.key}: sha256 differs")
        if progress is not None:
            progress(segment.count, segment.bytes)


@dataclass(frozen=True)
class Stored:
    """What the store holds after retention (the run result's ``stored``)."""

    backups: int
    objects: int
    events: int
    bytes: int

    def as_dict(self) -> dict[str, int]:
        return {
            "backups": self.backups,
            "objects": self.objects,
            "events": self.events,
            "bytes": self.bytes,
        }


def stored(kept: Sequence[Manifest]) -> Stored:
    complete = [m for m in kept if m.state == "complete"]
    return Stored(
        backups=len(complete),
        objects=sum(len(m.segments) + 1 for m in kept),
        events=sum(m.events for m in complete),
        bytes=sum(m.size for m in kept),
    )


def apply_retention(
    store: ObjectStore,
    *,
    now: datetime,
    max_age: timedelta | None,
    max_count: int | None,
    keep_last_verified: bool,
    keep: frozenset[str] = frozenset(),
) -> tuple[list[str], Stored]:
    """Delete the backups retention no longer wants (and leftovers without a manifest older
    than ``max_age``); returns the deleted identifiers and what is left."""
    found = manifests(store)
    infos = [
        BackupInfo(
            id=m.id,
            created=backup_time(m.id) or now,
            verified=m.verified,
            open=m.state == "open",
        )
        for m in found
    ]
    doomed = choose_deletions(
        infos,
        now=now,
        max_age=max_age,
        max_count=max_count,
        keep_last_verified=keep_last_verified,
        keep=keep,
    )
    with_manifest = {m.id for m in found}
    for item_id in _orphans(store, with_manifest, now=now, max_age=max_age):
        doomed.append(item_id)
    for identifier in doomed:
        _delete_backup(store, identifier)
    return doomed, stored([m for m in found if m.id not in set(doomed)])


def _orphans(
    store: ObjectStore, with_manifest: set[str], *, now: datetime, max_age: timedelta | None
) -> list[str]:
    """Folders under ``backups/`` whose manifest is gone (a deletion cut short)."""
    if max_age is None:
        return []
    seen: set[str] = set()
    for item in store.objects(BACKUPS):
        identifier = backup_of(item.key)
        created = backup_time(identifier) if identifier else None
        if identifier and identifier not in with_manifest and created and now - created > max_age:
            seen.add(identifier)
    return sorted(seen)


def _delete_backup(store: ObjectStore, identifier: str) -> None:
    """Manifest first (the backup stops existing for restore), then its segments."""
    store.delete([manifest_key(identifier)])
    keys = [o.key for o in store.objects(backup_prefix(identifier)) if not o.key.endswith(MANIFEST)]
    store.delete(keys)
