"""Retention of one policy's backups in the store: what `tidal_data.retention` chooses is
deleted (manifest first, then segments), leftovers of the policy's scope swept, and what is left
summed up for the run result. Called by `tidal_data.runs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidal_data.backups import manifests
from tidal_data.durations import backup_time
from tidal_data.keys import (
    MANIFEST,
    backup_of,
    backup_prefix,
    backups_root,
    manifest_key,
    scope_of,
)
from tidal_data.manifest import Manifest
from tidal_data.retention import BackupInfo, choose_deletions
from tidal_data.store import ObjectStore


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
    policy: str | None,
    now: datetime,
    max_age: timedelta | None,
    max_count: int | None,
    keep_last_verified: bool,
    keep: frozenset[str] = frozenset(),
) -> tuple[list[str], Stored]:
    """Delete the backups of ``policy`` retention no longer wants (and leftovers of its scope
    without a manifest older than ``max_age``); returns the deleted identifiers and what is
    left. The newest backup holding a topic, and the newest holding a partition whole, are always
    kept (see `choose_deletions`)."""
    found = manifests(store, policy)
    infos = [
        BackupInfo(
            id=m.id,
            created=backup_time(m.id) or now,
            verified=m.verified,
            open=m.state == "open",
            topics=frozenset(p.topic for p in m.partitions if m.segments_of(p.topic, p.partition)),
            whole=m.whole_partitions(),
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
    scopes = {m.id: m.scope for m in found}
    scope = scope_of(policy)
    orphans = _orphans(store, scope, set(scopes), now=now, max_age=max_age)
    for identifier in doomed + orphans:
        _delete_backup(store, identifier, scopes.get(identifier, scope))
    return doomed + orphans, stored([m for m in found if m.id not in set(doomed)])


def _orphans(
    store: ObjectStore,
    scope: str | None,
    with_manifest: set[str],
    *,
    now: datetime,
    max_age: timedelta | None,
) -> list[str]:
    """Folders of the policy's own scope whose manifest is gone (a deletion cut short); the
    unscoped layout is shared, so nothing there is an orphan of anyone."""
    if max_age is None or scope is None:
        return []
    seen: set[str] = set()
    for item in store.objects(backups_root(scope)):
        where = backup_of(item.key)
        identifier = where[1] if where else None
        created = backup_time(identifier) if identifier else None
        if identifier and identifier not in with_manifest and created and now - created > max_age:
            seen.add(identifier)
    return sorted(seen)


def _delete_backup(store: ObjectStore, identifier: str, scope: str | None) -> None:
    """Manifest first (the backup stops existing for restore), then its segments."""
    store.delete([manifest_key(identifier, scope)])
    prefix = backup_prefix(identifier, scope)
    keys = [o.key for o in store.objects(prefix) if not o.key.endswith(MANIFEST)]
    store.delete(keys)
