"""Prometheus export: the collector that reads every live source at scrape time, its registry
and `render`.

Nothing is recorded here: the transports already count into `tidal._stats.Stats` (plain
counters, no labels to resolve on the hot path) and `TidalCollector` turns those numbers into
metric families when Prometheus scrapes, so metrics cost nothing between scrapes. The families
are built by `event_families` (events, durations, in flight, hung sync threads, HTTP, Kafka
consumers), `run_families` (DLQ drainers, outbox relays) and `process_families`
(``tidal_info``, cold start, dependencies); a source may add families of its own
(``Source.families``: the operator's run results).

Callers: the HTTP transport serves `render` at ``/metrics`` (through
`tidal.observability.exposition`); `tidal.observability._listener` serves `REGISTRY` for
processes without an HTTP server (the operator's ``/metrics`` among them).

Families (every one labelled ``service``; see docs/observability.md for the full table):
``tidal_events_total``, ``tidal_idempotency_hits_total``, ``tidal_handler_duration_seconds``,
``tidal_in_flight``, ``tidal_sync_threads_hung``, ``tidal_http_requests_total``,
``tidal_consumer_*``, ``tidal_dlq_archive_{events,objects,written_bytes}_total`` (the DLQ
drainers), ``tidal_outbox_*``, ``tidal_dependency_up``, ``tidal_cold_start_seconds``,
``tidal_info``, and the families a source makes itself (``Source.families``: the operator's
``tidal_backup_*`` and run results).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
)
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from tidal.observability import _event_families as event_families
from tidal.observability import _process_families as process_families
from tidal.observability import _run_families as run_families
from tidal.observability._sources import live


class TidalCollector(Collector):
    """Reads `sources.live()` on every scrape and yields tidal's metric families."""

    def collect(self) -> Iterator[Metric]:
        sources = live()
        with_stats = [s for s in sources if s.stats is not None]
        yield from event_families.events_and_hits(with_stats)
        yield event_families.durations(with_stats)
        yield event_families.in_flight(with_stats)
        # families of one kind of process only (HTTP, Kafka consumer, operator, drainer) or of
        # one condition (hung sync threads): none at all, not empty ``# TYPE`` lines, where no
        # source produces them
        yield from _present(
            [
                event_families.hung(with_stats),
                event_families.http_requests(sources),
                *event_families.consumers(sources),
            ]
        )
        yield from _present(run_families.drained(sources))
        yield from _present(run_families.relays(sources))
        yield from _present([process_families.dependencies(sources)])
        for source in sources:
            if source.families is not None:
                yield from _present(_checked(source.families()))
        yield from process_families.process(sources)

    def describe(self) -> Iterable[Metric]:
        return ()  # no describe-time collection: sources come and go


def _present(families: Iterable[Metric]) -> Iterator[Metric]:
    return (family for family in families if family.samples)


def _checked(families: Iterable[object]) -> Iterator[Metric]:
    for family in families:
        if not isinstance(family, Metric):
            raise TypeError(f"a source's families must be prometheus_client Metrics: {family!r}")
        yield family


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
