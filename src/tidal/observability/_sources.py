"""Where the metrics layer finds what to export: a registry of live measurement sources.

The transports register what they already measure (the dispatcher's `Stats`, HTTP status
counts, the Kafka worker's consumer measures), ``tidal dlq drain`` what it has archived
(`Drained`), ``tidal outbox relay`` what it has relayed (`Relaying`), and a process
exporting families tidal does not define registers a function making them (``families``);
`tidal.observability._collector` reads every live source at scrape time. Nothing here imports a
client library, so the hot path may import it freely.

A source lives as long as its owner (the object that registered it): the registry keeps a weak
reference to the owner and forgets the source once the owner is collected.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from tidal._stats import Stats


class PartitionMeasures(Protocol):
    """One assigned partition (`tidal._transports.kafka.measures.PartitionMeasures`)."""

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


class ArchiveCounts(Protocol):
    """What a DLQ drainer has written so far (`tidal_data.dlq.DrainCounts`)."""

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
    """What an outbox relay has done so far (`tidal._outbox.relay.Relay`)."""

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
    families: Callable[[], Iterable[object]] | None = None
    """Metric families the owner makes itself at scrape time (``prometheus_client`` `Metric`
    objects) for families tidal does not define; ones without samples are not exported."""
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
