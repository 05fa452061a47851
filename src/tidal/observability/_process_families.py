"""Metric families of the process: ``tidal_info``, ``tidal_cold_start_seconds`` and
``tidal_dependency_up``.

`tidal.observability._collector.TidalCollector` calls `dependencies` and `process` on every
scrape; they read `tidal._health` (which dependencies answer) and `tidal.observability._hooks`
(when the process started and each service became ready).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric

from tidal import _health as health
from tidal.observability import _hooks as hooks
from tidal.observability._event_families import SERVICE
from tidal.observability._sources import Source


def _version() -> str:
    try:
        return importlib.metadata.version("tidal")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


VERSION: Final = _version()


def dependencies(sources: list[Source]) -> Metric:
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


def process(sources: list[Source]) -> Iterator[Metric]:
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
