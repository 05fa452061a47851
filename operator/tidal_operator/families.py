"""The operator's Prometheus families: each BackupPolicy's, restore's and DLQArchive's results.

`RunResults` is what `tidal_operator.metrics` reads from a resource's status; `collect` turns the
results of one process into ``tidal_backup_*``, ``tidal_restore_*`` and ``tidal_dlq_archive_*``
families at scrape time. `tidal_operator.metrics.Results` hands `collect` to
`tidal.observability` as its source's ``families``, so the library exports them without knowing
the operator's kinds. A DLQArchive's archived dead letters (``tidal_dlq_archive_events_total``,
objects, bytes) are not made here: the drainers (``tidal dlq drain``) count and export them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

RunKind = Literal["backup", "dlq_archive", "restore"]
NAMES_BY_KIND: Final[dict[RunKind, str]] = {
    "backup": "policy",
    "dlq_archive": "archive",
    "restore": "restore",
}
"""Each kind's resource-name label (``policy="orders-daily"``)."""
SERVICE: Final = "service"


@dataclass(kw_only=True)
class RunResults:
    """The results of one BackupPolicy, restore or DLQArchive, as the operator reads them from its
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
    """Events written by every run so far; None: not exported from here (DLQ archives: their
    drainers count archived dead letters themselves)."""


def collect(service: str, results: Iterable[RunResults]) -> Iterator[Metric]:
    """Every kind's families for ``results``, labelled ``service``; empty families included
    (`tidal.observability` drops the ones without samples)."""
    results = list(results)
    for kind in NAMES_BY_KIND:
        yield from _runs(service, [r for r in results if r.kind == kind], kind)


def _runs(service: str, results: list[RunResults], kind: RunKind) -> Iterator[Metric]:
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
    for result in results:
        _add_run(service, result, runs, gauges, events)
    yield from (runs, *gauges.values(), events)


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
