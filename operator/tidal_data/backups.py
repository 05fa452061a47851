"""Backups in the store: create or resume one, verify it, list them.

A backup is ``backups/[policy=<scope>/]<id>/``: its segments and its manifest. Everything here
works on one owner's backups: a policy's own scope plus the unscoped backups whose manifest
names that policy (written before scopes existed); another policy's backups are never listed
or restored (retention: `tidal_data.pruning`; the prefix's owner: `tidal_data.owners`).
Called by ``tidal archive`` and ``tidal backup run`` (`tidal_data.cli.backup`) and by restore.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from tidal_data.durations import backup_id, format_time
from tidal_data.errors import (
    BackupNotFound,
    ChecksumMismatch,
    CorruptSegment,
    InvalidArgument,
    RunFailure,
    StoreError,
)
from tidal_data.keys import (
    BACKUPS,
    backup_of,
    manifest_key,
    scope_of,
)
from tidal_data.manifest import Manifest, Partition
from tidal_data.segments import Compression
from tidal_data.store import AlreadyExists, ObjectStore

CREATE_ATTEMPTS = 30
_ID: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def load(store: ObjectStore, identifier: str, scope: str | None = None) -> Manifest:
    key = manifest_key(identifier, scope)
    data = store.get(key)
    if data is None:
        raise BackupNotFound(f"no backup {identifier} in {store.config.describe()}")
    return Manifest.from_json(data, key=key)


@dataclass
class Listing:
    """Every manifest in the prefix (oldest first) and those that could not be read (key ->
    why: a wrong or rotated-out key, a damaged object); the unreadable are never deleted."""

    manifests: list[Manifest] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    def of(self, policy: str | None) -> list[Manifest]:
        """The backups of one policy: its scope, and unscoped ones that name it."""
        scope = scope_of(policy)
        return [m for m in self.manifests if m.policy == policy and m.scope in (None, scope)]

    def policies(self) -> list[str | None]:
        return sorted({m.policy for m in self.manifests}, key=lambda p: p or "")


def listing(store: ObjectStore, root: str = BACKUPS) -> Listing:
    """Every manifest under ``root``."""
    found = Listing()
    for item in store.objects(root):
        where = backup_of(item.key)
        if where is None or item.key != manifest_key(where[1], where[0]):
            continue
        try:
            manifest = load(store, where[1], where[0])
        except RunFailure as exc:
            found.unreadable[item.key] = f"{exc.reason}: {exc}"
            continue
        manifest.scope = where[0]  # where it lies is what retention deletes
        found.manifests.append(manifest)
    found.manifests.sort(key=lambda m: (m.created_at, m.id))
    return found


def resolve_policy(store: ObjectStore, policy: str | None) -> str | None:
    """``policy``, or when it is not given the one policy whose backups the prefix holds
    (backups of several: ``AmbiguousPolicy``, choose one)."""
    if policy is not None:
        return policy
    found = listing(store).policies()
    if len(found) > 1:
        named = ", ".join(p or "(none)" for p in found)
        raise InvalidArgument(
            f"backups of several policies in {store.config.describe()}: {named}; "
            "choose one with --policy",
            reason="AmbiguousPolicy",
        )
    return found[0] if found else None


def not_found(store: ObjectStore, policy: str | None, what: str) -> RunFailure:
    """Why there is no backup to use: unreadable manifests (a wrong key: ``CorruptSegment``)
    or none at all (``BackupNotFound``)."""
    unreadable = listing(store).unreadable
    where = f"{policy or 'no policy'} in {store.config.describe()}"
    if unreadable:
        key, why = sorted(unreadable.items())[0]
        return CorruptSegment(
            f"no {what} of {where}: {len(unreadable)} manifests cannot be read ({key}: {why})"
        )
    return BackupNotFound(f"no {what} of {where}")


def manifests(store: ObjectStore, policy: str | None = None) -> list[Manifest]:
    """The backups of ``policy`` (None: those written without one), oldest first."""
    return listing(store).of(policy)


def verified_newest_first(store: ObjectStore, policy: str | None) -> list[Manifest]:
    return [m for m in reversed(manifests(store, policy)) if m.verified]


def latest_verified(store: ObjectStore, policy: str | None = None) -> Manifest:
    verified = verified_newest_first(store, policy)
    if not verified:
        raise BackupNotFound(
            f"no verified backup of {policy or 'no policy'} in {store.config.describe()}"
        )
    return verified[0]


def open_backup(store: ObjectStore, policy: str | None) -> Manifest | None:
    """The newest unfinished backup of ``policy`` (a crashed run's), to be resumed."""
    unfinished = [m for m in manifests(store, policy) if m.state == "open"]
    return unfinished[-1] if unfinished else None


def check_id(identifier: str) -> str:
    if not _ID.match(identifier):
        raise InvalidArgument(f"{identifier!r} is not a backup id (letters, digits, . _ -)")
    return identifier


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
    extra: Manifest | None = None,
) -> Manifest:
    """Write the manifest of a new backup covering ``ranges`` ((topic, partition) -> [start,
    end)); its identifier is the start time (a second later when taken). A given
    ``identifier`` that exists fails (``BackupExists``). ``extra`` carries the descriptive
    fields (source, missing topics, topic configs, key id) to copy."""
    if identifier:
        check_id(identifier)
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
                extra=extra,
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
    extra: Manifest | None,
) -> Manifest:
    manifest = Manifest(
        id=identifier,
        created_at=format_time(now),
        compression=compression,
        encryption=encryption,
        policy=policy,
        scope=scope_of(policy),
        restore_target=restore_target,
        source=extra.source if extra else None,
        missing_topics=list(extra.missing_topics) if extra else [],
        topics_info=list(extra.topics_info) if extra else [],
        groups=list(extra.groups) if extra else [],
        key_id=extra.key_id if extra else None,
        partitions=[
            Partition(topic=t, partition=p, start=start, end=end, next=start)
            for (t, p), (start, end) in sorted(ranges.items())
        ],
    )
    store.put_new(manifest_key(manifest.id, manifest.scope), manifest.to_json())
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
