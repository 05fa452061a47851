"""Object key naming: where backups, their segments and manifests, checkpoints and dead letters go.

A segment key names its topic, partition and first and last offset, so two segments of
different records can never share a key; with never-overwrite puts nothing is ever replaced.
Pure; called by the archiver, restore, retention and the DLQ commands. Keys are relative to the
store's prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from tidal.archive.segments import EXTENSIONS, Compression

BACKUPS: Final = "backups/"
MANIFEST: Final = "manifest.json"
CHECKPOINTS: Final = "checkpoints/"
DLQ: Final = "dlq/"
SEGMENT_SUFFIX: Final = ".seg"
OFFSET_DIGITS: Final = 20


def backup_prefix(backup_id: str) -> str:
    return f"{BACKUPS}{backup_id}/"


def manifest_key(backup_id: str) -> str:
    return f"{backup_prefix(backup_id)}{MANIFEST}"


def backup_of(key: str) -> str | None:
    """The backup identifier of a key under ``backups/``."""
    if not key.startswith(BACKUPS):
        return None
    identifier, sep, _ = key[len(BACKUPS) :].partition("/")
    return identifier if sep else None


def offsets(first: int, last: int) -> str:
    return f"{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}"


def segment_key(
    backup_id: str, topic: str, partition: int, first: int, last: int, compression: Compression
) -> str:
    """``backups/<id>/<topic>/<partition>/<first>-<last>.seg[.zst|.gz]``."""
    name = f"{offsets(first, last)}{SEGMENT_SUFFIX}{EXTENSIONS[compression]}"
    return f"{backup_prefix(backup_id)}{topic}/{partition}/{name}"


def checkpoint_key(name: str) -> str:
    return f"{CHECKPOINTS}{name}.json"


def time_slice(moment: datetime, granularity: str) -> str:
    """``2025/01/31/17`` (hour) or ``2025/01/31`` (day), UTC."""
    return moment.strftime("%Y/%m/%d/%H" if granularity == "hour" else "%Y/%m/%d")


def type_part(event_type: str | None) -> str:
    """A CloudEvents type as one key segment (``/`` cannot occur in it; unknown -> ``_none``)."""
    if not event_type:
        return "type=_none"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in event_type)
    return f"type={safe}"


def dlq_segment_key(
    topic: str,
    slice_: str,
    event_type: str | None,
    partition: int,
    first: int,
    last: int,
    count: int,
    compression: Compression,
) -> str:
    """``dlq/<topic>/<YYYY/MM/DD[/HH]>/[type=<t>/]<partition>-<first>-<last>-<count>.seg...``;
    ``event_type`` None means the archive is not partitioned by type. The count in the name
    lets ``tidal dlq ls`` and retention report events without reading objects."""
    typed = "" if event_type is None else f"{type_part(event_type)}/"
    name = f"{partition}-{offsets(first, last)}-{count}{SEGMENT_SUFFIX}{EXTENSIONS[compression]}"
    return f"{DLQ}{topic}/{slice_}/{typed}{name}"


@dataclass(frozen=True)
class DlqKey:
    """A dead-letter segment key, parsed."""

    topic: str
    slice: str
    start: datetime
    granularity: str
    event_type: str | None
    partition: int
    first: int
    last: int
    count: int

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
    )


def compression_of(key: str) -> Compression:
    for compression, extension in EXTENSIONS.items():
        if extension and key.endswith(SEGMENT_SUFFIX + extension):
            return compression
    return "none"
