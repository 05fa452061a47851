"""Metric families of runs and relays: backups, DLQ archives, restores and outbox relays.

`tidal.observability.collector.TidalCollector` calls `runs_of` once per run kind and `relays` on
every scrape. The operator registers run results (``tidal_backup_*``, ``tidal_dlq_archive_*``,
``tidal_restore_*``), ``tidal dlq drain`` what its drainers archived, ``tidal outbox relay``
its rows; a family appears only where some source produces it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tidal.observability.event_families import SERVICE
from tidal.observability.sources import Drained, Relaying, RunResults, Source

NAMES_BY_KIND: Final = {"backup": "policy", "dlq_archive": "archive", "restore": "restore"}


def runs_of(sources: list[Source], kind: str) -> Iterator[Metric]:
    prefix = f"tidal_{kind}"
    what = {"backup": "backup policy", "dlq_archive": "DLQ archive"}.get(kind, kind)
    labels = [SERVICE, "resource_namespace", NAMES_BY_KIND[kind]]
    runs = CounterMetricFamily(
        f"{prefix}_runs", f"Finished runs of each {what} by result.", labels=[*labels, "result"]
    )
    gauges = {
        "last_success": GaugeMetricFamily(
            f"{prefix}_last_success_timestamp_seconds",
            f"When a run of the {what} last succeeded"
            " (Unix seconds; until the first success, its creation time).",
            labels=labels,
        ),
        "max_age": GaugeMetricFamily(
            f"{prefix}_max_age_seconds",
            f"How old the last success of the {what} may be before a run is late.",
            labels=labels,
        ),
        "last_size_bytes": GaugeMetricFamily(
            f"{prefix}_last_size_bytes", "Bytes written by the last successful run.", labels=labels
        ),
        "stored_bytes": GaugeMetricFamily(
            f"{prefix}_stored_bytes", f"Bytes the {what} keeps in object storage.", labels=labels
        ),
    }
    if kind == "backup":
        gauges["restore_test_last_success"] = GaugeMetricFamily(
            f"{prefix}_restore_test_last_success_timestamp_seconds",
            "When a restore test of the backup policy last restored a backup identical"
            " (Unix seconds; absent: never).",
            labels=labels,
        )
    events = CounterMetricFamily(
        f"{prefix}_events",
        {
            "backup": "Events backed up by the backup policy.",
            "restore": "Events the restore published into its target.",
        }.get(kind, "Dead letters the DLQ archive's drainers archived into object storage."),
        labels=labels,
    )
    for source in sources:
        for result in list(source.runs.values()):
            if result.kind == kind:
                _add_run(source.service, result, runs, gauges, events)
    yield from (runs, *gauges.values())
    if kind == "dlq_archive":  # the drainers count archived dead letters (and what they wrote)
        yield from _drained(sources, events, labels)
    else:
        yield events


def _drained(
    sources: list[Source], events: CounterMetricFamily, labels: list[str]
) -> Iterator[Metric]:
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
        drained: Drained | None = source.drained
        if drained is None:
            continue
        counts = drained.counts
        row = [source.service, drained.namespace, drained.name]
        events.add_metric(row, counts.events)
        objects.add_metric(row, counts.objects)
        written.add_metric(row, counts.bytes)
    yield from (events, objects, written)


def relays(sources: list[Source]) -> Iterator[Metric]:
    """The outbox relays: rows produced and acknowledged, and how old the oldest waiting row
    was at the last poll (0 when none waited)."""
    labels = ["service", "table"]
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


def _add_run(
    service: str,
    result: RunResults,
    runs: CounterMetricFamily,
    gauges: dict[str, GaugeMetricFamily],
    events: CounterMetricFamily,
) -> None:
    labels = [service, result.namespace, result.name]
    runs.add_metric([*labels, "success"], result.succeeded)
    runs.add_metric([*labels, "failure"], result.failed)
    if result.kind == "backup":
        runs.add_metric([*labels, "partially_failed"], result.partially_failed)
    gauges["last_success"].add_metric(labels, result.last_success or 0.0)
    for name in ("max_age", "last_size_bytes", "stored_bytes", "restore_test_last_success"):
        value = getattr(result, name)
        if value is not None:
            gauges[name].add_metric(labels, value)
    if result.events is not None:
        events.add_metric(labels, result.events)
