"""OpenTelemetry spans for receive, handle and emit, carried across hops inside the events.

The context travels in the CloudEvents distributed-tracing extension: an event's
``traceparent`` / ``tracestate`` attributes (``ce-traceparent`` headers in HTTP binary mode,
``ce_traceparent`` Kafka headers, JSON members in structured mode). A receiving process
continues the trace found in the event (falling back to the transport's own W3C ``traceparent``
header, which becomes a span link when both exist), and every event a handler produces is
stamped with its handle span's context, so one trace follows an event through the broker to
each service and on to the events it emits.

`configure` builds the SDK from the standard ``OTEL_*`` variables (exporter, OTLP endpoint,
protocol, headers, sampler, batch processor) and returns an `OtelTracer` for
`tidal.observability.hooks.install`, or None when tracing is off.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tidal.errors import ConfigurationError
from tidal.events import Event
from tidal.observability.hooks import Emit

log = logging.getLogger("tidal.observability")

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
INSTRUMENTATION: Final = "tidal"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_OTLP_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class OtelTracer:
    """The `tidal.observability.hooks.Tracer` on an OpenTelemetry tracer."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def receive(
        self, event: Event, *, transport: str, carrier: Mapping[str, str] | None = None
    ) -> AbstractContextManager[object]:
        parent, links = _extract(event), []
        if carrier is not None and TRACEPARENT in carrier:
            hop = _PROPAGATOR.extract(carrier)
            if parent is None:
                parent = hop
            elif (linked := trace.get_current_span(hop).get_span_context()).is_valid:
                links.append(Link(linked))
        return self._tracer.start_as_current_span(
            f"receive {event.type}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={**_event_attributes(event), "messaging.system": transport},
        )

    def handle(
        self, event: Event, *, service: str, subscription: str, attempt: int
    ) -> AbstractContextManager[object]:
        attributes: dict[str, Any] = {"tidal.subscription": subscription, "tidal.attempt": attempt}
        if trace.get_current_span().get_span_context().is_valid:  # inside a receive span
            return self._tracer.start_as_current_span(
                f"handle {subscription}", kind=SpanKind.INTERNAL, attributes=attributes
            )
        return self._tracer.start_as_current_span(  # the transport opened no receive span
            f"handle {subscription}",
            context=_extract(event),
            kind=SpanKind.CONSUMER,
            attributes={**_event_attributes(event), **attributes, "tidal.service": service},
        )

    def emitting(self, emit: Emit, *, subscription: str) -> Emit:
        async def traced(events: Sequence[Event]) -> None:
            if not events:
                await emit(events)
                return
            with self._tracer.start_as_current_span(
                f"emit {subscription}",
                kind=SpanKind.PRODUCER,
                attributes={
                    "tidal.subscription": subscription,
                    "messaging.batch.message_count": len(events),
                    "cloudevents.event_type": sorted({e.type for e in events}),
                },
            ):
                await emit(events)

        return traced

    def stamp(self, events: list[Event]) -> list[Event]:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        if TRACEPARENT not in carrier:
            return events
        return [event.with_extensions(carrier) for event in events]

    def current_ids(self) -> tuple[str, str] | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _extract(event: Event) -> Context | None:
    traceparent = event.get_extension(TRACEPARENT)
    if not isinstance(traceparent, str):
        return None
    carrier = {TRACEPARENT: traceparent}
    tracestate = event.get_extension(TRACESTATE)
    if isinstance(tracestate, str):
        carrier[TRACESTATE] = tracestate
    return _PROPAGATOR.extract(carrier)


def _event_attributes(event: Event) -> dict[str, Any]:
    # few attributes: the SDK checks each one, and that is most of a span's cost
    return {
        "cloudevents.event_id": event.id,
        "cloudevents.event_type": event.type,
        "cloudevents.event_source": event.source,
    }


# -- configuration from OTEL_* -------------------------------------------------------------


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
    provider = TracerProvider(resource=_resource(service, version, environ))
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    log.info("tracing on: %s", environ.get("OTEL_TRACES_EXPORTER", "otlp"))
    return OtelTracer(provider.get_tracer(INSTRUMENTATION, version))


def _resource(service: str, version: str, environ: Mapping[str, str]) -> Resource:
    attributes: dict[str, str] = {"service.version": version}
    if "OTEL_SERVICE_NAME" not in environ:  # the standard variable wins over tidal's name
        attributes["service.name"] = service
    return Resource.create(attributes)


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
