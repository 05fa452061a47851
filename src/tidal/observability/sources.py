"""Where the metrics layer finds what to export: a registry of live measurement sources.

The transports register what they already measure (the dispatcher's `Stats`, HTTP status
counts, the Kafka worker's consumer measures), ``tidal dlq drain`` what it has archived
(`Drained`), and the operator registers backup / DLQ-archive results;
`tidal.observability.collector` reads every live source at scrape time. Nothing here imports a
client library, so the hot path may import it freely.

A source lives as long as its owner (the object that registered it): the registry keeps a weak
reference to the owner and forgets the source once the owner is collected.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tidal.stats import Stats

RunKind = Literal["backup", "dlq_archive", "restore"]


class PartitionMeasures(Protocol):
    """One assigned partition (`tidal.transports.kafka.measures.PartitionMeasures`)."""

    @property
    def in_flight(self) -> int: ...
    @property
    def log_end(self) -> int | None: ...
    @property
    def committed(self) -> int | None: ...
    @property
    def lag(self) -> int | None: ...


class GroupMeasures(Protocol):
    """One subscription's consumer group (`...kafka.measures.SubscriptionMeasures`)."""

    @property
    def group(self) -> str: ...
    @property
    def consumed(self) -> int: ...
    @property
    def invalid(self) -> int: ...
    @property
    def partitions(self) -> Mapping[tuple[str, int], PartitionMeasures]: ...


class ConsumerMeasures(Protocol):
    """What a Kafka worker measures per subscription (`...kafka.measures.KafkaMetrics`)."""

    @property
    def subscriptions(self) -> Mapping[str, GroupMeasures]: ...


@dataclass(kw_only=True)
class RunResults:
    """The results of one BackupPolicy or DLQArchive, as the operator reads them from its
    status; times are Unix seconds, ``None`` when unknown (``last_success``: never)."""

    kind: RunKind
    name: str
    namespace: str
    succeeded: int = 0
    failed: int = 0
    partially_failed: int = 0
    """Runs that did only part of their work (a BackupPolicy's PartiallyFailed)."""
    last_success: float | None = None
    max_age: float | None = None
    """Seconds a last success may be old before the next run is late (schedule plus grace)."""
    last_size_bytes: int | None = None
    stored_bytes: int | None = None
    restore_test_last_success: float | None = None
    """When a restore test last restored a backup identical (BackupPolicies with one)."""
    events: int | None = 0
    """Events written by every run so far; None: not exported from here (the operator's DLQ
    archives: their drainers count archived dead letters themselves, see `Drained`)."""


class ArchiveCounts(Protocol):
    """What a DLQ drainer has written so far (`tidal.archive.dlq.DrainCounts`)."""

    @property
    def events(self) -> int: ...
    @property
    def objects(self) -> int: ...
    @property
    def bytes(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class Drained:
    """A ``tidal dlq drain`` process's counts for its DLQArchive (``namespace``/``name``: the
    ``--archive`` it was given; empty when none): ``tidal_dlq_archive_events_total`` and the
    objects / bytes it wrote."""

    namespace: str
    name: str
    counts: ArchiveCounts


class RelayCounts(Protocol):
    """What an outbox relay has done so far (`tidal.outbox.relay.Relay`)."""

    @property
    def relayed(self) -> int: ...
    @property
    def oldest_pending(self) -> float | None: ...


@dataclass(frozen=True, kw_only=True)
class Relaying:
    """A ``tidal outbox relay`` process's counts for its outbox ``table``:
    ``tidal_outbox_relayed_events_total`` and ``tidal_outbox_lag_seconds``."""

    table: str
    counts: RelayCounts


@dataclass(eq=False, kw_only=True)
class Source:
    """One thing to export, labelled ``service``; every part is optional."""

    service: str
    transport: str
    stats: Stats | None = None
    http_statuses: Counter[int] | None = None
    consumer: ConsumerMeasures | None = None
    runs: dict[tuple[RunKind, str, str], RunResults] = field(default_factory=dict)
    """Keyed by (kind, namespace, name); the operator updates it in place."""
    drained: Drained | None = None
    relaying: Relaying | None = None


@dataclass(frozen=True)
class _Entry:
    owner: weakref.ref[object]
    source: Source


_entries: list[_Entry] = []
_lock = threading.Lock()


def register(owner: object, source: Source) -> Source:
    """Export ``source`` for as long as ``owner`` lives; returns ``source``.

    ``owner`` must accept weak references, and ``source`` must not refer to it (the registry
    holds the source strongly: it would keep its owner alive).
    """
    with _lock:
        _entries.append(_Entry(weakref.ref(owner), source))
    return source


def unregister(source: Source) -> None:
    """Stop exporting ``source`` before its owner goes."""
    with _lock:
        _entries[:] = [e for e in _entries if e.source is not source]


def live() -> list[Source]:
    """The sources whose owners are still alive (the others are dropped)."""
    with _lock:
        _entries[:] = [e for e in _entries if e.owner() is not None]
        return [e.source for e in _entries]
