"""Which backups retention deletes: older than the max age, beyond the max count, never the
newest verified one, never the newest backup holding a topic (so a topic that disappeared from
the source, or from the selection, keeps its last copy), never the newest backup holding a
partition whole (so a newer backup that could read only part of it does not replace it). Pure;
`tidal_data.pruning.apply_retention` acts on the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, kw_only=True)
class BackupInfo:
    """What retention needs to know of one backup."""

    id: str
    created: datetime
    verified: bool
    open: bool = False
    topics: frozenset[str] = frozenset()
    """Topics it holds records of."""
    whole: frozenset[tuple[str, int]] = frozenset()
    """Partitions it holds from their start to their end with no gap."""


def choose_deletions(
    backups: Sequence[BackupInfo],
    *,
    now: datetime,
    max_age: timedelta | None,
    max_count: int | None,
    keep_last_verified: bool = True,
    keep: frozenset[str] = frozenset(),
) -> list[str]:
    """Identifiers to delete, oldest first.

    A backup is deleted when it is older than ``max_age`` or when ``max_count`` newer complete
    backups exist; an open (unfinished) backup is deleted only by age. ``keep`` (the run's own
    backup), with ``keep_last_verified`` the newest verified backup, and for every topic the
    newest finished backup holding it (verified ones first) always stay; so does, for every
    partition, the newest finished backup holding it whole (verified ones first).
    """
    newest_first = sorted(backups, key=lambda b: b.created, reverse=True)
    protected = set(keep)
    if keep_last_verified:
        verified = next((b for b in newest_first if b.verified), None)
        if verified is not None:
            protected.add(verified.id)
    protected |= last_holders(newest_first)
    doomed = []
    kept = 0
    for backup in newest_first:
        too_old = max_age is not None and now - backup.created > max_age
        too_many = not backup.open and max_count is not None and kept >= max_count
        if backup.id not in protected and (too_old or too_many):
            doomed.append(backup.id)
        elif not backup.open:
            kept += 1
    return sorted(doomed, key=lambda i: next(b.created for b in backups if b.id == i))


def last_holders(newest_first: Sequence[BackupInfo]) -> set[str]:
    """Per topic, the newest verified finished backup holding it (else the newest finished);
    per partition, the same among the backups holding it whole."""
    chosen: dict[object, str] = {}
    for wanted in (True, False):
        for backup in newest_first:
            if backup.open or backup.verified != wanted:
                continue
            for held in (*backup.topics, *backup.whole):
                chosen.setdefault(held, backup.id)
    return set(chosen.values())
