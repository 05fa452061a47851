"""Prometheus export: a collector that reads every live source at scrape time.

Nothing is recorded here: the transports already count into `tidal.stats.Stats` (plain
counters, no labels to resolve on the hot path) and this collector turns those numbers into
metric families when Prometheus scrapes, so metrics cost nothing between scrapes. The HTTP
transport serves `render` at ``/metrics``; processes without an HTTP server start `listen`
(the Kafka worker through `tidal.observability.setup`, ``tidal dlq drain`` directly).

Families (every one labelled ``service``; see docs/observability.md for the full table):
``tidal_events_total``, ``tidal_idempotency_hits_total``, ``tidal_handler_duration_seconds``,
``tidal_in_flight``, ``tidal_sync_threads_hung``, ``tidal_http_requests_total``,
``tidal_consumer_*``, ``tidal_backup_*``, ``tidal_dlq_archive_*`` (``events_total``,
``objects_total`` and ``written_bytes_total`` from the drainers, the others from the operator),
``tidal_dependency_up``, ``tidal_cold_start_seconds``, ``tidal_info``.
"""

from __future__ import annotations

import importlib.metadata
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    make_wsgi_app,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder
from prometheus_client.registry import Collector

from tidal import health
from tidal.observability import hooks
from tidal.observability.sources import (
    ConsumerMeasures,
    Drained,
    Relaying,
    RunResults,
    Source,
    live,
)
from tidal.stats import BUCKETS, Histogram, Stats

SERVICE: Final = "service"
NAMES_BY_KIND: Final = {"backup": "policy", "dlq_archive": "archive", "restore": "restore"}


def _version() -> str:
    try:
        return importlib.metadata.version("tidal")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


VERSION: Final = _version()


class TidalCollector(Collector):
    """Reads `sources.live()` on every scrape and yields tidal's metric families."""

    def collect(self) -> Iterator[Metric]:
        sources = live()
        with_stats = [s for s in sources if s.stats is not None]
        yield from _events(with_stats)
        yield _durations(with_stats)
        yield _in_flight(with_stats)
        # families of one kind of process only (HTTP, Kafka consumer, operator, drainer) or of
        # one condition (hung sync threads): none at all, not empty ``# TYPE`` lines, where no
        # source produces them
        yield from _present([_hung(with_stats), _http(sources), *_consumers(sources)])
        for kind in NAMES_BY_KIND:
            yield from _present(_runs(sources, kind))
        yield from _present(_relaying(sources))
        yield from _present([_dependencies(sources)])
        yield from _process(sources)

    def describe(self) -> Iterable[Metric]:
        return ()  # no describe-time collection: sources come and go


def _present(families: Iterable[Metric]) -> Iterator[Metric]:
    return (family for family in families if family.samples)


def make_registry() -> CollectorRegistry:
    """tidal's collector plus the client's process, platform and GC collectors."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in (TidalCollector(), PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


REGISTRY: Final = make_registry()


def render(accept: str | None = None) -> tuple[bytes, str]:
    """The exposition of `REGISTRY` in the format ``accept`` asks for, and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type


@dataclass(frozen=True)
class Listener:
    """A running `listen` server; `close` stops it (processes that end, and tests)."""

    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def listen(port: int, *, host: str = "0.0.0.0") -> Listener:
    """Serve ``/metrics``, ``/healthz`` (the liveness probe: 503 while `tidal.health` reports
    problems) and ``/readyz`` (503 while a dependency is down, `readiness`) on ``host:port``
    from a daemon thread (processes without HTTP)."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            problems = health.problems()
            bad = bool(problems)
            body: dict[str, Any] = {"status": "unhealthy" if bad else "ok", "problems": problems}
        elif path == "/readyz":
            bad, body = health.readiness()
        else:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        status = "503 Service Unavailable" if bad else "200 OK"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="tidal-metrics", daemon=True)
    thread.start()
    return Listener(server, thread)


class _Quiet(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


# -- events --------------------------------------------------------------------------------


def _events(sources: list[Source]) -> Iterator[Metric]:
    events = CounterMetricFamily(
        "tidal_events",
        "Events by subscription, event type and outcome (received, handled, duplicate, "
        "retried, failed, dead_lettered, filtered, paused: a dependency was down).",
        labels=[SERVICE, "subscription", "event_type", "outcome"],
    )
    hits = CounterMetricFamily(
        "tidal_idempotency_hits",
        "Events found already handled by the idempotency store (the duplicate outcome).",
        labels=[SERVICE, "subscription", "event_type"],
    )
    for source in sources:
        assert source.stats is not None
        for (sub, event_type, outcome), n in _typed_counts(source.stats):
            events.add_metric([source.service, sub, event_type, outcome], n)
            if outcome == "duplicate":
                hits.add_metric([source.service, sub, event_type], n)
    yield events
    yield hits


def _typed_counts(stats: Stats) -> Iterator[tuple[tuple[str, str, str], int]]:
    """Counts by (subscription, event type, outcome); counts recorded without a type are
    exported with an empty ``event_type``."""
    counts, typed = dict(stats.counts), dict(stats.typed)  # atomic copies (scrape thread)
    known: dict[tuple[str, str], int] = {}
    for (sub, event_type, outcome), n in typed.items():
        known[(sub, outcome)] = known.get((sub, outcome), 0) + n
        yield (sub, event_type, outcome), n
    for (sub, outcome), n in counts.items():
        rest = n - known.get((sub, outcome), 0)
        if rest > 0:
            yield (sub, "", outcome), rest


def _durations(sources: list[Source]) -> Metric:
    family = HistogramMetricFamily(
        "tidal_handler_duration_seconds",
        "Duration of handler attempts (idempotency, handler, emission) in seconds.",
        labels=[SERVICE, "subscription", "event_type"],
    )
    bounds = [*(repr(float(b)) for b in BUCKETS), "+Inf"]
    for source in sources:
        assert source.stats is not None
        for (sub, event_type), histogram in list(source.stats.latency.items()):
            buckets, total = _cumulative(histogram)
            family.add_metric(
                [source.service, sub, event_type], list(zip(bounds, buckets, strict=True)), total
            )
    return family


def _cumulative(histogram: Histogram) -> tuple[list[float], float]:
    counts, total = list(histogram.counts), histogram.total
    running, cumulative = 0, []
    for n in counts:
        running += n
        cumulative.append(float(running))
    return cumulative, total


def _in_flight(sources: list[Source]) -> Metric:
    family = GaugeMetricFamily(
        "tidal_in_flight",
        "Handler attempts running now.",
        labels=[SERVICE, "subscription"],
    )
    for source in sources:
        assert source.stats is not None
        for sub, n in dict(source.stats.in_flight).items():
            family.add_metric([source.service, sub], n)
    return family


def _hung(sources: list[Source]) -> Metric:
    family = GaugeMetricFamily(
        "tidal_sync_threads_hung",
        "Sync handler threads still running after their attempt timed out (abandoned; at the "
        "pool's limit /healthz fails).",
        labels=[SERVICE, "subscription"],
    )
    for source in sources:
        assert source.stats is not None
        for sub, n in dict(source.stats.hung).items():
            family.add_metric([source.service, sub], n)
    return family


def _http(sources: list[Source]) -> Metric:
    family = CounterMetricFamily(
        "tidal_http_requests",
        "Event deliveries over HTTP (POST) by the status tidal answered.",
        labels=[SERVICE, "status"],
    )
    for source in sources:
        for status, n in dict(source.http_statuses or {}).items():
            family.add_metric([source.service, str(status)], n)
    return family


# -- Kafka consumers -----------------------------------------------------------------------

_PARTITION_LABELS: Final = [SERVICE, "subscription", "group", "topic", "partition"]
_GROUP_LABELS: Final = [SERVICE, "subscription", "group"]


def _consumers(sources: list[Source]) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "tidal_consumer_lag",
        "Records not yet committed: log-end offset minus committed offset, per partition.",
        labels=_PARTITION_LABELS,
    )
    log_end = GaugeMetricFamily(
        "tidal_consumer_log_end_offset",
        "Log-end offset (fetch high watermark) per assigned partition.",
        labels=_PARTITION_LABELS,
    )
    committed = GaugeMetricFamily(
        "tidal_consumer_committed_offset",
        "Committed offset of the consumer group per assigned partition.",
        labels=_PARTITION_LABELS,
    )
    consumed = CounterMetricFamily(
        "tidal_consumer_records",
        "Records fetched (retry-topic records included).",
        labels=_GROUP_LABELS,
    )
    invalid = CounterMetricFamily(
        "tidal_consumer_invalid_records",
        "Fetched records that were not CloudEvents (dead-lettered as they were).",
        labels=_GROUP_LABELS,
    )
    for source in sources:
        if source.consumer is not None:
            _add_consumer(
                source.service, source.consumer, lag, log_end, committed, consumed, invalid
            )
    yield from (lag, log_end, committed, consumed, invalid)


def _add_consumer(
    service: str,
    consumer: ConsumerMeasures,
    lag: GaugeMetricFamily,
    log_end: GaugeMetricFamily,
    committed: GaugeMetricFamily,
    consumed: CounterMetricFamily,
    invalid: CounterMetricFamily,
) -> None:
    for sub, group in list(consumer.subscriptions.items()):
        consumed.add_metric([service, sub, group.group], group.consumed)
        invalid.add_metric([service, sub, group.group], group.invalid)
        for (topic, partition), measures in list(group.partitions.items()):
            labels = [service, sub, group.group, topic, str(partition)]
            for family, value in (
                (lag, measures.lag),
                (log_end, measures.log_end),
                (committed, measures.committed),
            ):
                if value is not None:
                    family.add_metric(labels, value)


# -- backup and DLQ archive results --------------------------------------------------------


def _runs(sources: list[Source], kind: str) -> Iterator[Metric]:
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


def _relaying(sources: list[Source]) -> Iterator[Metric]:
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


# -- the process ---------------------------------------------------------------------------


def _dependencies(sources: list[Source]) -> Metric:
    family = GaugeMetricFamily(
        "tidal_dependency_up",
        "1 while a service this process depends on (redis, kafka, sink, dead_letter_sink) "
        "answers, 0 while it is down and events wait (/readyz names it).",
        labels=[SERVICE, "dependency"],
    )
    states = health.dependencies()
    # the process' services that handle events (an operator or a drainer registered beside a
    # worker in one process, as in tests, does not depend on its Redis); else every service
    services = {s.service for s in sources if s.stats is not None} or {s.service for s in sources}
    for service in sorted(services):
        for name, up in states.items():
            family.add_metric([service, name], 1 if up else 0)
    return family


def _process(sources: list[Source]) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "tidal_info",
        "1 per tidal process and service (count it for replicas).",
        labels=[SERVICE, "transport", "version"],
    )
    for service, transport in sorted({(s.service, s.transport) for s in sources}):
        info.add_metric([service, transport, VERSION], 1)
    cold = GaugeMetricFamily(
        "tidal_cold_start_seconds",
        "Seconds from process start to ready to take events.",
        labels=[SERVICE],
    )
    started = hooks.process_start_time()
    for service, ready in sorted(hooks.ready_times().items()):
        cold.add_metric([service], max(0.0, ready - started))
    yield info
    yield cold
