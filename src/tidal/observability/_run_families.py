"""Metric families of tidal's own long-running commands: DLQ drainers and outbox relays.

`tidal.observability._collector.TidalCollector` calls `drained` and `relays` on every scrape.
``tidal dlq drain`` registers what its drainers archived (`Drained`:
``tidal_dlq_archive_{events,objects,written_bytes}_total``), ``tidal outbox relay`` its rows
(`Relaying`: ``tidal_outbox_*``); a family appears only where some source produces it. The
operator's run results (``tidal_backup_*``, ``tidal_restore_*``, the other
``tidal_dlq_archive_*``) are the operator's own families (``Source.families``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tidal.observability._event_families import SERVICE
from tidal.observability._sources import Drained, Relaying, Source


def drained(sources: list[Source]) -> Iterator[Metric]:
    """What the DLQ drainers archived, by the DLQArchive they were given."""
    labels = [SERVICE, "resource_namespace", "archive"]
    events = CounterMetricFamily(
        "tidal_dlq_archive_events",
        "Dead letters the DLQ archive's drainers archived into object storage.",
        labels=labels,
    )
    objects = CounterMetricFamily(
        "tidal_dlq_archive_objects",
        "Segments the DLQ archive's drainers wrote into object storage.",
        labels=labels,
    )
    written = CounterMetricFamily(
        "tidal_dlq_archive_written_bytes",
        "Bytes of the segments the DLQ archive's drainers wrote into object storage.",
        labels=labels,
    )
    for source in sources:
        archived: Drained | None = source.drained
        if archived is None:
            continue
        counts = archived.counts
        row = [source.service, archived.namespace, archived.name]
        events.add_metric(row, counts.events)
        objects.add_metric(row, counts.objects)
        written.add_metric(row, counts.bytes)
    yield from (events, objects, written)


def relays(sources: list[Source]) -> Iterator[Metric]:
    """The outbox relays: rows produced and acknowledged, and how old the oldest waiting row
    was at the last poll (0 when none waited)."""
    labels = [SERVICE, "table"]
    relayed = CounterMetricFamily(
        "tidal_outbox_relayed_events",
        "Outbox rows the relay produced, acknowledged by the broker, then deleted.",
        labels=labels,
    )
    lag = GaugeMetricFamily(
        "tidal_outbox_lag_seconds",
        "Age of the oldest outbox row waiting at the relay's last poll (0: none waited).",
        labels=labels,
    )
    now = time.time()
    for source in sources:
        relaying: Relaying | None = source.relaying
        if relaying is None:
            continue
        row = [source.service, relaying.table]
        relayed.add_metric(row, relaying.counts.relayed)
        oldest = relaying.counts.oldest_pending
        lag.add_metric(row, 0.0 if oldest is None else max(0.0, now - oldest))
    yield from (relayed, lag)
