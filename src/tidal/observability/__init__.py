"""Observability: Prometheus metrics, OpenTelemetry traces and JSON logs for tidal processes.

The hot path only records into plain structures (`tidal._stats.Stats`, the sources registered in
`tidal.observability._sources`) and reads one slot (`hooks.tracer`); the client libraries
(``prometheus_client``, ``opentelemetry``, from the ``observability`` extra) are imported only
by `setup` and by the ``/metrics`` endpoint. Modules:

- `hooks`: the installed tracer (None: tracing off) and readiness times;
- `sources`: what the transports, ``tidal dlq drain``, ``tidal outbox relay`` and processes
  with families of their own register for export;
- `ingress`: counts, statuses and ingest spans of a process that turns requests into events
  (the reference gateway);
- `collector`: the scrape-time collector, its registry and ``/metrics`` rendering, over the
  families of `event_families`, `run_families` and `process_families`;
- `listener`: a standalone ``/metrics``, ``/healthz`` and ``/readyz`` server (no HTTP transport);
  `readiness` is ``/readyz``'s answer for a process serving HTTP of its own (the gateway);
- `sampling`: W3C ``traceparent`` parsing and which events get spans;
- `tracing`: OpenTelemetry spans with context in the CloudEvents ``traceparent`` extension,
  only for the events tidal samples (decided before the SDK);
- `configuring`: the SDK from the standard ``OTEL_*`` variables around the `tracing` tracer;
- `logs`: one JSON object per log line;
- `wiring`: `setup`, called once per process by ``tidal run``.

`redact_url` (`tidal._redaction`) is what every process prints a URL through: its password and
secret query values masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tidal import _health as health
from tidal._redaction import redact_url
from tidal.observability._hooks import mark_ready
from tidal.observability._ingress import Ingress
from tidal.observability._sources import (
    Drained,
    Relaying,
    Source,
    register,
    unregister,
)

if TYPE_CHECKING:
    from tidal._settings import Settings
    from tidal.observability._listener import Listener
    from tidal.observability._wiring import Observability

__all__ = [
    "Drained",
    "Ingress",
    "Relaying",
    "Source",
    "exposition",
    "listen",
    "mark_ready",
    "readiness",
    "redact_url",
    "register",
    "setup",
    "unregister",
]

Exposition = Callable[[str | None], tuple[bytes, str]]


def setup(settings: Settings, *, service: str, metrics_listener: bool = False) -> Observability:
    """Configure logs, tracing and metrics for this process (call once, before serving).

    Logs go to stderr as JSON lines (``TIDAL_OBSERVABILITY__LOG_FORMAT=text`` for plain) at
    ``TIDAL_LOG_LEVEL``; tracing follows ``TIDAL_OBSERVABILITY__TRACING`` and the standard
    ``OTEL_*`` variables; with ``metrics_listener`` (processes without an HTTP server: the Kafka
    worker) ``/metrics`` is served on ``TIDAL_OBSERVABILITY__METRICS_PORT``.
    """
    from tidal.observability._wiring import setup as wire

    return wire(settings, service=service, metrics_listener=metrics_listener)


def exposition() -> Exposition | None:
    """The function rendering ``/metrics`` (Accept header -> body, content type), or None
    when ``prometheus_client`` is not installed."""
    try:
        from tidal.observability._collector import render
    except ImportError:
        logging.getLogger("tidal.observability").warning(
            "no /metrics: prometheus_client is not installed (tidal[observability])"
        )
        return None
    return render


async def readiness() -> tuple[bool, dict[str, Any]]:
    """``/readyz``'s answer, as ``tidal run``'s: whether a dependency is down (answer 503) and
    the body naming each one down with why (`tidal._health.readiness`), after probing each one
    down (`tidal._health.recheck`: a process out of traffic finds a dependency back only so)."""
    return await health.checked_readiness()


def listen(port: int, *, host: str = "0.0.0.0") -> Listener:
    """Serve ``/metrics`` (every registered source), ``/healthz`` and ``/readyz`` on
    ``host:port`` from a daemon thread, for processes without an HTTP server; ``close`` the
    result to stop.

    Raises ImportError without ``prometheus_client`` and OSError when the port is taken.
    """
    from tidal.observability._listener import listen as serve

    return serve(port, host=host)
