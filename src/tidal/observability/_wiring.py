"""`setup`: logging, tracing and metrics for one tidal process, from its `Settings`.

`tidal run` calls it once, before serving or consuming; see `tidal.observability.setup`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tidal._errors import ConfigurationError
from tidal._settings import Settings
from tidal._stats import type_label_cap
from tidal.observability import _hooks as hooks
from tidal.observability import _logs as logs

log = logging.getLogger("tidal.observability")


@dataclass(frozen=True, kw_only=True)
class Observability:
    """What `setup` turned on."""

    service: str
    tracing: bool
    metrics_port: int | None

    def ready(self) -> None:
        """Record that the service takes events now (``tidal_cold_start_seconds``)."""
        hooks.mark_ready(self.service)


def setup(settings: Settings, *, service: str, metrics_listener: bool = False) -> Observability:
    options = settings.observability
    type_label_cap(options.max_event_types)
    logs.configure(level=settings.log_level, style=options.log_format, service=service)
    hooks.install(_tracer(options.tracing, service))
    port = None
    if metrics_listener and options.metrics and options.metrics_port:
        port = _listen(options.metrics_port, host=settings.host)
    return Observability(service=service, tracing=hooks.tracer is not None, metrics_port=port)


def _tracer(mode: str, service: str) -> hooks.Tracer | None:
    try:
        from tidal.observability import _configuring as configuring
    except ImportError as exc:
        if mode == "on":
            raise ConfigurationError("tracing needs `pip install tidal[observability]`") from exc
        log.warning("tracing off: OpenTelemetry is not installed (tidal[observability])")
        return None
    return configuring.configure(mode, service=service, version=_version())


def _listen(port: int, *, host: str) -> int | None:
    try:
        from tidal.observability import _listener as listener
    except ImportError:
        log.warning("no /metrics: prometheus_client is not installed (tidal[observability])")
        return None
    try:
        listener.listen(port, host=host)
    except OSError as exc:  # e.g. two workers on one machine: run on, say so loudly
        log.error(
            "no /metrics: cannot listen on %s:%d (%s); set TIDAL_OBSERVABILITY__METRICS_PORT",
            host,
            port,
            exc,
        )
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return port


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tidal")
    except PackageNotFoundError:
        return "unknown"
