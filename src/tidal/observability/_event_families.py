"""tidal's per-event metric families, built from live sources at scrape time.

`tidal.observability._collector.TidalCollector` calls these on every scrape: events by outcome
and type, idempotency hits, handler durations, attempts in flight, hung sync threads, HTTP
statuses and the Kafka consumers' lag, offsets and record counts. Nothing is recorded here: the
numbers are read from `tidal._stats.Stats` and the sources' consumer measures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from tidal._stats import BUCKETS, Histogram, Stats
from tidal.observability._sources import ConsumerMeasures, Source

SERVICE: Final = "service"


def events_and_hits(sources: list[Source]) -> Iterator[Metric]:
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


def durations(sources: list[Source]) -> Metric:
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


def in_flight(sources: list[Source]) -> Metric:
    return _gauge_by_subscription(
        sources, "tidal_in_flight", "Handler attempts running now.", lambda s: s.in_flight
    )


def hung(sources: list[Source]) -> Metric:
    return _gauge_by_subscription(
        sources,
        "tidal_sync_threads_hung",
        "Sync handler threads still running after their attempt timed out (abandoned; at the "
        "pool's limit /healthz fails).",
        lambda s: s.hung,
    )


def _gauge_by_subscription(
    sources: list[Source], name: str, text: str, counts: Callable[[Stats], Mapping[str, int]]
) -> Metric:
    family = GaugeMetricFamily(name, text, labels=[SERVICE, "subscription"])
    for source in sources:
        assert source.stats is not None
        for sub, n in dict(counts(source.stats)).items():
            family.add_metric([source.service, sub], n)
    return family


def http_requests(sources: list[Source]) -> Metric:
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


def consumers(sources: list[Source]) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "tidal_consumer_lag",
        "Records the subscription has not finished: log-end offset minus the committed offset"
        " (its own done position where its group's subscriptions share the partition).",
        labels=_PARTITION_LABELS,
    )
    log_end = GaugeMetricFamily(
        "tidal_consumer_log_end_offset",
        "Log-end offset (fetch high watermark) per assigned partition.",
        labels=_PARTITION_LABELS,
    )
    committed = GaugeMetricFamily(
        "tidal_consumer_committed_offset",
        "Offset up to which the subscription is done per assigned partition (its group"
        " commits the least of its subscriptions').",
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
