"""Object key naming: where backups, their segments and manifests, owners and dead letters go.

A segment key names its topic, partition and first and last offset, so two segments of
different records can never share a key; with never-overwrite puts nothing is ever replaced.
Every key of a BackupPolicy's backup lies under ``backups/policy=<namespace>.<name>/`` and every
dead letter of a DLQArchive under ``dlq/archive=<namespace>.<name>/`` (the owner's *scope*), so
listing, retention, prune and restore of one owner never see another's objects. Keys written
before scopes existed (``backups/<id>/``, ``dlq/<topic>/``) stay readable as the unscoped
layout. Pure; called by the archiver, restore, retention and the DLQ commands. Keys are
relative to the store's prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from tidal_data.errors import InvalidArgument
from tidal_data.segments import EXTENSIONS, Compression

BACKUPS: Final = "backups/"
MANIFEST: Final = "manifest.json"
DLQ: Final = "dlq/"
SEGMENT_SUFFIX: Final = ".seg"
OFFSET_DIGITS: Final = 20
POLICY_MARK: Final = "policy="
ARCHIVE_MARK: Final = "archive="
OWNERS: Final = "owners/"
_TOPIC: Final = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_SCOPE: Final = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}$")


def check_topic(topic: str) -> str:
    """A Kafka topic name (``[A-Za-z0-9._-]``, at most 249, not ``.`` or ``..``) is safe as one
    key segment; anything else is refused before it reaches a key."""
    if not _TOPIC.match(topic) or topic in (".", ".."):
        raise InvalidArgument(f"{topic!r} is not a Kafka topic name (letters, digits, . _ -)")
    return topic


def scope_of(owner: str | None) -> str | None:
    """``<namespace>/<name>`` of a BackupPolicy or DLQArchive -> its key scope
    ``<namespace>.<name>`` (a namespace holds no dot, so the first dot splits them back)."""
    if owner is None:
        return None
    namespace, slash, name = owner.partition("/")
    scope = f"{namespace}.{name}" if slash else owner
    if "/" in name or not _SCOPE.match(scope) or (not name and slash):
        raise InvalidArgument(f"{owner!r} is not <namespace>/<name>")
    return scope


def backups_root(scope: str | None) -> str:
    """Where an owner's backups are listed: ``backups/policy=<scope>/`` (``backups/``: the
    unscoped layout of ``tidal archive`` and of backups written before scopes)."""
    return f"{BACKUPS}{POLICY_MARK}{scope}/" if scope else BACKUPS


def backup_prefix(backup_id: str, scope: str | None = None) -> str:
    return f"{backups_root(scope)}{backup_id}/"


def manifest_key(backup_id: str, scope: str | None = None) -> str:
    return f"{backup_prefix(backup_id, scope)}{MANIFEST}"


def backup_of(key: str) -> tuple[str | None, str] | None:
    """(scope, backup identifier) of a key under ``backups/``; None for any other key."""
    if not key.startswith(BACKUPS):
        return None
    first, sep, rest = key[len(BACKUPS) :].partition("/")
    if not sep:
        return None
    if not first.startswith(POLICY_MARK):
        return None, first
    identifier, sep, _ = rest.partition("/")
    return (first[len(POLICY_MARK) :], identifier) if sep and identifier else None


def owner_key(kind: str) -> str:
    """The marker naming the one BackupPolicy (``kind`` backup-policy) or DLQArchive that owns
    the store's prefix."""
    return f"{OWNERS}{kind}.json"


def offsets(first: int, last: int) -> str:
    return f"{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}"


def segment_key(
    backup_id: str,
    topic: str,
    partition: int,
    first: int,
    last: int,
    compression: Compression,
    scope: str | None = None,
) -> str:
    """``backups/[policy=<scope>/]<id>/<topic>/<partition>/<first>-<last>.seg[.zst|.gz]``."""
    name = f"{offsets(first, last)}{SEGMENT_SUFFIX}{EXTENSIONS[compression]}"
    return f"{backup_prefix(backup_id, scope)}{check_topic(topic)}/{partition}/{name}"


def time_slice(moment: datetime, granularity: str) -> str:
    """``2025/01/31/17`` (hour) or ``2025/01/31`` (day), UTC."""
    return moment.strftime("%Y/%m/%d/%H" if granularity == "hour" else "%Y/%m/%d")


def type_part(event_type: str | None) -> str:
    """A CloudEvents type as one key segment (``/`` cannot occur in it; unknown -> ``_none``)."""
    if not event_type:
        return "type=_none"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in event_type)
    return f"type={safe}"


def dlq_root(scope: str | None) -> str:
    """Where an archive's letters lie: ``dlq/archive=<scope>/`` (``dlq/``: unscoped, as
    written before scopes)."""
    return f"{DLQ}{ARCHIVE_MARK}{scope}/" if scope else DLQ


def dlq_segment_key(
    topic: str,
    slice_: str,
    event_type: str | None,
    partition: int,
    first: int,
    last: int,
    count: int,
    compression: Compression,
    scope: str | None = None,
) -> str:
    """``dlq/[archive=<scope>/]<topic>/<YYYY/MM/DD[/HH]>/[type=<t>/]<partition>-<first>-<last>-
    <count>.seg...``; ``event_type`` None means the archive is not partitioned by type. The
    count in the name lets ``tidal dlq ls`` and retention report events without reading
    objects."""
    typed = "" if event_type is None else f"{type_part(event_type)}/"
    name = f"{partition}-{offsets(first, last)}-{count}{SEGMENT_SUFFIX}{EXTENSIONS[compression]}"
    return f"{dlq_root(scope)}{check_topic(topic)}/{slice_}/{typed}{name}"


@dataclass(frozen=True)
class DlqKey:
    """A dead-letter segment key, parsed; ``scope``: the archive's (None: unscoped)."""

    topic: str
    slice: str
    start: datetime
    granularity: str
    event_type: str | None
    partition: int
    first: int
    last: int
    count: int
    scope: str | None = None

    @property
    def end(self) -> datetime:
        return self.start + (
            timedelta(hours=1) if self.granularity == "hour" else timedelta(days=1)
        )


_DLQ_NAME: Final = re.compile(r"^(\d+)-(\d+)-(\d+)-(\d+)\.seg(\.zst|\.gz)?$")
_SLICE: Final = re.compile(r"^\d{4}/\d{2}/\d{2}(/\d{2})?$")


def parse_dlq_key(key: str) -> DlqKey | None:
    """The parts of a ``dlq/...`` key, or None for any other object."""
    if not key.startswith(DLQ):
        return None
    parts = key[len(DLQ) :].split("/")
    scope = None
    if parts[0].startswith(ARCHIVE_MARK):
        scope, parts = parts[0][len(ARCHIVE_MARK) :], parts[1:]
    name = _DLQ_NAME.match(parts[-1])
    typed = len(parts) > 1 and parts[-2].startswith("type=")
    body = parts[1:-2] if typed else parts[1:-1]
    slice_ = "/".join(body)
    if name is None or len(parts) < 5 or not _SLICE.match(slice_):
        return None
    granularity = "hour" if len(body) == 4 else "day"
    start = datetime.strptime(slice_, "%Y/%m/%d/%H" if granularity == "hour" else "%Y/%m/%d")
    partition, first, last, count = (int(name.group(i)) for i in range(1, 5))
    return DlqKey(
        topic=parts[0],
        slice=slice_,
        start=start.replace(tzinfo=UTC),
        granularity=granularity,
        event_type=parts[-2][len("type=") :] if typed else None,
        partition=partition,
        first=first,
        last=last,
        count=count,
        scope=scope,
    )


def compression_of(key: str) -> Compression:
    for compression, extension in EXTENSIONS.items():
        if extension and key.endswith(SEGMENT_SUFFIX + extension):
            return compression
    return "none"
