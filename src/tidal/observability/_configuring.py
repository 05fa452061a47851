"""The OpenTelemetry SDK built from the standard ``OTEL_*`` variables, around an `OtelTracer`.

`configure` (called once per process by `tidal.observability._wiring.setup`) decides whether to
trace (``TIDAL_OBSERVABILITY__TRACING`` and ``OTEL_SDK_DISABLED`` / ``OTEL_TRACES_EXPORTER``),
builds a provider whose own sampler is always on (tidal samples before the SDK:
`tidal.observability._sampling`), with a batch processor per exporter (``otlp`` over
http/protobuf or gRPC, ``console``), installs it as the global provider and returns the
`OtelTracer`; `build` does the same without installing (the observability benchmark builds
several side by side).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from typing import Final

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from tidal._errors import ConfigurationError
from tidal.observability._sampling import DEFAULT_SAMPLER, sampling_from
from tidal.observability._tracing import INSTRUMENTATION, OtelTracer

log = logging.getLogger("tidal.observability")

_OTLP_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def enabled(mode: str, environ: Mapping[str, str]) -> bool:
    """Whether to trace: ``on`` / ``off``, or ``auto``: when an exporter or OTLP endpoint is
    set; ``OTEL_SDK_DISABLED=true`` and ``OTEL_TRACES_EXPORTER=none`` always turn it off."""
    if mode == "off" or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    if mode == "on":
        return True
    return "OTEL_TRACES_EXPORTER" in environ or any(name in environ for name in _OTLP_ENDPOINTS)


def configure(
    mode: str, *, service: str, version: str, environ: Mapping[str, str] | None = None
) -> OtelTracer | None:
    """The process's tracer per ``mode`` and ``OTEL_*``, installed as the global provider."""
    environ = os.environ if environ is None else environ
    if not enabled(mode, environ):
        return None
    provider, tracer = build(service=service, version=version, environ=environ)
    trace.set_tracer_provider(provider)
    log.info(
        "tracing on: %s, sampling %s",
        environ.get("OTEL_TRACES_EXPORTER", "otlp"),
        environ.get("OTEL_TRACES_SAMPLER", DEFAULT_SAMPLER),
    )
    return tracer


def build(
    *, service: str, version: str, environ: Mapping[str, str]
) -> tuple[TracerProvider, OtelTracer]:
    """A provider exporting per ``OTEL_*`` and the `OtelTracer` on it (`configure` installs
    them; the observability benchmark builds several side by side)."""
    # tidal samples before the SDK (`Sampling`): the SDK records every span tidal starts
    provider = TracerProvider(resource=_resource(service, version, environ), sampler=ALWAYS_ON)
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer(INSTRUMENTATION, version)
    return provider, OtelTracer(tracer, sampling=sampling_from(environ))


class _Resource(Resource):
    """A `Resource` that hashes once: the OTLP encoder groups spans by resource, hashing it per
    span (a sorted JSON dump of every attribute, ~3 µs each)."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def _resource(service: str, version: str, environ: Mapping[str, str]) -> Resource:
    attributes: dict[str, str] = {"service.version": version}
    if "OTEL_SERVICE_NAME" not in environ:  # the standard variable wins over tidal's name
        attributes["service.name"] = service
    return _Resource(Resource.create(attributes))


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    return [_exporter(name, environ) for name in names if name]


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={name!r}: tidal supports otlp, console")
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    )
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "grpc":
        return _grpc_exporter()
    raise ConfigurationError(f"OTLP protocol {protocol!r}: use http/protobuf or grpc")


def _grpc_exporter() -> SpanExporter:
    try:  # an optional package: imported by name so type checking does not need it
        trace_exporter = importlib.import_module(
            "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"
        )
    except ImportError as exc:
        raise ConfigurationError(
            "OTLP over gRPC needs `pip install opentelemetry-exporter-otlp-proto-grpc`"
        ) from exc
    exporter: SpanExporter = trace_exporter.OTLPSpanExporter()
    return exporter
