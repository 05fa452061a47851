"""The manifest of one backup: its partitions' offset ranges and every segment's checksum.

Written to ``backups/[policy=<scope>/]<id>/manifest.json`` when a backup starts (state
``open``), rewritten after each uploaded segment (so a crashed run resumes from the last recorded
offset), then marked ``complete`` and finally ``verified`` once every checksum was read back; a
later ``tidal backup verify`` (or a restore's read-back) that fails records ``verifyError`` and
takes ``verified`` away. ``missingTopics`` names selected topics the source did not have (the
run is PartiallyFailed), ``topics`` each topic's partition count, replication factor and
configs (a restore creates the topics alike), ``source`` the cluster it was read from,
``groups`` the committed offsets of the consumer groups backed up with it; a partition's
``gaps`` are offset ranges it could not read (deleted under the run, truncated, a read that
timed out: the run is PartiallyFailed and retention keeps an older backup holding the partition
whole). Fields
added later default when absent, so older manifests still load. Pure data and JSON; called by
the archiver, verification, retention and restore.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from tidal_data.errors import CorruptSegment
from tidal_data.segments import Compression

SCHEMA: Final = "tidal.dev/backup-manifest/v1"
State = Literal["open", "complete"]


@dataclass(frozen=True, kw_only=True)
class Segment:
    """One uploaded segment: records ``first``..``last`` (``count`` of them) of a partition."""

    key: str
    topic: str
    partition: int
    first: int
    last: int
    count: int
    bytes: int
    sha256: str
    min_timestamp: int
    max_timestamp: int


@dataclass(frozen=True, kw_only=True)
class Gap:
    """Offsets ``first`` up to (excluding) ``end`` of a partition that the run could not read,
    and why (a reason code such as ``OffsetOutOfRange``, ``LogTruncated``, ``ReadTimeout``)."""

    topic: str
    partition: int
    first: int
    end: int
    reason: str

    def describe(self) -> str:
        return f"{self.topic}/{self.partition} offsets {self.first}-{self.end - 1} ({self.reason})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "from": self.first,
            "to": self.end - 1,
            "reason": self.reason,
        }


@dataclass(kw_only=True)
class Partition:
    """A partition backed up from ``start`` up to (excluding) ``end``; ``next`` is where the
    archiver continues (one past the last recorded segment or gap); ``gaps`` are the ranges
    in between that could not be read, as ``{"first", "end", "reason"}``."""

    topic: str
    partition: int
    start: int
    end: int
    next: int
    gaps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.next >= self.end

    @property
    def whole(self) -> bool:
        """Every offset from ``start`` to ``end`` was read (no gap)."""
        return not self.gaps

    def gap_list(self) -> list[Gap]:
        return [
            Gap(topic=self.topic, partition=self.partition, first=int(g["first"]),
                end=int(g["end"]), reason=str(g["reason"]))
            for g in self.gaps
        ]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class TopicConfig:
    """A backed-up topic as the source had it: partitions, replication factor, configs."""

    name: str
    partitions: int
    replication_factor: int | None = None
    """None when unknown (a replay's topic, a manifest older than ``topicsInfo``): a target
    created from it gets the cluster's default replication factor, not a single replica."""
    configs: list[dict[str, str]] = field(default_factory=list)
    """``[{"name": "retention.ms", "value": "..."}]``: the configs set on the topic itself."""

    def config_map(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self.configs}


@dataclass(kw_only=True)
class Manifest:
    id: str
    created_at: str
    compression: Compression
    encryption: str
    policy: str | None = None
    scope: str | None = None
    """The key scope (``None``: the unscoped ``backups/<id>/`` layout)."""
    state: State = "open"
    completed_at: str | None = None
    verified: bool = False
    verified_at: str | None = None
    verify_error: str | None = None
    key_id: str | None = None
    restore_target: dict[str, str] | None = None
    source: dict[str, str] | None = None
    missing_topics: list[str] = field(default_factory=list)
    topics_info: list[TopicConfig] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    """Committed offsets of the backed-up consumer groups (`tidal_data.groups`)."""
    partitions: list[Partition] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(s.count for s in self.segments)

    @property
    def size(self) -> int:
        """Bytes of its segments as stored."""
        return sum(s.bytes for s in self.segments)

    def partition(self, topic: str, number: int) -> Partition:
        for p in self.partitions:
            if p.topic == topic and p.partition == number:
                return p
        raise KeyError(f"{topic}/{number}")

    def record(self, segment: Segment) -> None:
        """Add an uploaded segment and move its partition's ``next`` past it."""
        part = self.partition(segment.topic, segment.partition)
        if segment.first < part.next:
            raise ValueError(f"{segment.key} overlaps what the manifest already holds")
        self.segments.append(segment)
        part.next = segment.last + 1

    def record_gap(self, gap: Gap) -> None:
        """Note offsets that could not be read and move the partition's ``next`` past them."""
        part = self.partition(gap.topic, gap.partition)
        if gap.first < part.next or gap.end <= gap.first:
            raise ValueError(f"gap {gap.describe()} overlaps what the manifest already holds")
        part.gaps.append({"first": gap.first, "end": gap.end, "reason": gap.reason})
        part.next = gap.end

    def gaps(self) -> list[Gap]:
        """Every unreadable range, by topic and partition."""
        return [g for p in sorted(self.partitions, key=lambda p: (p.topic, p.partition))
                for g in p.gap_list()]  # fmt: skip

    def whole_partitions(self) -> frozenset[tuple[str, int]]:
        """The partitions held from their start to their end with no gap."""
        return frozenset((p.topic, p.partition) for p in self.partitions if p.whole)

    def segments_of(self, topic: str, number: int) -> list[Segment]:
        found = [s for s in self.segments if s.topic == topic and s.partition == number]
        return sorted(found, key=lambda s: s.first)

    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})

    def topic_info(self, topic: str) -> TopicConfig:
        """What the source had for ``topic`` (older manifests: its partition count only)."""
        for info in self.topics_info:
            if info.name == topic:
                return info
        count = 1 + max(p.partition for p in self.partitions if p.topic == topic)
        return TopicConfig(name=topic, partitions=count)

    def to_json(self) -> bytes:
        body = {"schema": SCHEMA, **_camel(asdict(self))}
        return json.dumps(body, indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, key: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.pop("schema", None) != SCHEMA:
                raise ValueError(f"not a {SCHEMA}")
            fields = _snake(raw)
            fields["partitions"] = [Partition(**p) for p in fields["partitions"]]
            fields["segments"] = [Segment(**s) for s in fields["segments"]]
            fields["topics_info"] = [
                TopicConfig(**{**t, "configs": t.get("configs", [])})
                for t in fields.get("topics_info", [])
            ]
            return cls(**fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptSegment(f"{key}: unreadable manifest: {exc}") from exc


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake_name(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_name(k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake_name(k): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value
