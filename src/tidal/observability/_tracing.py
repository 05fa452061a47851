"""OpenTelemetry spans for receive, handle and emit, carried across hops inside the events.

The context travels in the CloudEvents distributed-tracing extension: an event's
``traceparent`` / ``tracestate`` attributes (``ce-traceparent`` headers in HTTP binary mode,
``ce_traceparent`` Kafka headers, JSON members in structured mode). A receiving process
continues the trace found in the event (falling back to the transport's own W3C ``traceparent``
header, which becomes a span link when both exist), and every event a handler produces is
stamped with its handle span's context, so one trace follows an event through the broker to
each service and on to the events it emits.

Sampling is decided before the SDK is touched (`tidal.observability._sampling`, from the
standard ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``): an event whose ``traceparent``
says not sampled (parent-based samplers), or that the ratio rejects, gets no SDK span at all; its
handler's events still carry a valid ``traceparent``: the same trace id and the incoming parent
id (with no parent: ids hashed from the event's source and id) with the sampled flag off, and the
same ``tracestate``. Only sampled events pay for spans. Where the ratio decides, the draw is
`tidal.observability._sampling.picked` from the event's id: a receive and each attempt on one
event decide alike without being told. So an unsampled event leaves the context alone (a
context variable's set and reset cost more than the rest of its path): the receive opens
nothing, the dispatcher passes the event to `OtelTracer.stamp` and the handler's ``ctx.logger``
gets its ids from `OtelTracer.ids_for`, so log lines of other loggers carry no trace id there.
Only what the event cannot say marks the context (`_Unsampled`): an unsampled HTTP receive
whose parent is the transport's ``traceparent`` header alone, and an unsampled ingress (a
request that is no event); everything inside the mark forwards its trace.

`tidal.observability._configuring` builds the SDK from the standard ``OTEL_*`` variables and
returns an `OtelTracer` for `tidal.observability._hooks.install`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tidal._events import Event
from tidal.observability._hooks import Emit
from tidal.observability._sampling import (
    RATIO_MASK,
    Forward,
    Parent,
    Sampling,
    forward,
    forward_event,
    parse_traceparent,
)

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
INSTRUMENTATION: Final = "tidal"
_PROPAGATOR: Final = TraceContextTextMapPropagator()


_RECEIVING: Final = object()
"""`_scope` inside a sampled receive span: handle spans are its children."""
_scope: ContextVar[object] = ContextVar("tidal_trace_scope", default=None)
"""What tidal's tracing opened around the current code: None (nothing), `_RECEIVING`, or an
`_Unsampled` mark (an unsampled receive or ingress). One variable: the hot path reads it once."""


class _Unsampled:
    """Marks the current context unsampled (no SDK span) for as long as it is entered: the
    mark is this object, which works out what the request forwards once, when first asked
    (made for every unsampled request: it must cost next to nothing)."""

    __slots__ = ("_forward", "_parent", "_token")

    def __init__(self, parent: Parent | None) -> None:
        self._parent = parent
        self._forward: Forward | None = None

    def forwarded(self) -> Forward:
        """What this request forwards: its parent with the sampled flag off, or new ids."""
        found = self._forward
        if found is None:
            found = self._forward = forward(self._parent)
        return found

    def __enter__(self) -> None:
        self._token = _scope.set(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _scope.reset(self._token)


def _unsampled() -> _Unsampled | None:
    scope = _scope.get()
    return scope if type(scope) is _Unsampled else None


class _Current:
    """A started span, current while entered and ended on leaving, an exception that escapes
    recorded on it and its status set to an error: what the SDK's ``start_as_current_span``
    does, without its two generator-based context managers (a fifth of a span's cost on the
    event loop). ``receiving`` also marks the context as receiving (`_RECEIVING`), so a handle
    span need not ask the SDK for the current span."""

    __slots__ = ("_mark", "_receiving", "_span", "_token")

    def __init__(self, span: Span, *, receiving: bool = False) -> None:
        self._span = span
        self._receiving = receiving

    def __enter__(self) -> Span:
        span = self._span
        self._mark = _scope.set(_RECEIVING) if self._receiving else None
        self._token = attach(set_span_in_context(span))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, mark = self._span, self._mark
        try:
            detach(self._token)
            if mark is not None:
                _scope.reset(mark)
            # as the SDK: an Exception, not a BaseException such as a cancellation
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            span.end()


def _event_parent(event: Event) -> Parent | None:
    attributes = event.get_attributes()
    traceparent = attributes.get(TRACEPARENT)
    if traceparent is None:  # most events: no parent, nothing to parse
        return None
    return parse_traceparent(traceparent, attributes.get(TRACESTATE))


class OtelTracer:
    """The `tidal.observability._hooks.Tracer` on an OpenTelemetry tracer, spans only for the
    events ``sampling`` picks (the SDK's own sampler should then be always on)."""

    def __init__(self, tracer: trace.Tracer, *, sampling: Sampling | None = None) -> None:
        self._tracer = tracer
        self.sampling = sampling or Sampling()
        self._parent_based, self._threshold = self.sampling.parent_based, self.sampling.threshold

    def receive(
        self, event: Event, *, transport: str, carrier: Mapping[str, str] | None = None
    ) -> AbstractContextManager[object] | None:
        if carrier is None or TRACEPARENT not in carrier:
            # the event alone decides, and each attempt's `sampled` decides the same again
            if not self._decides(event):
                return None  # nothing to mark: most requests end here
            return self._receive_span(event, transport, _extract(event), None)
        parent = _event_parent(event)
        hop = parse_traceparent(carrier[TRACEPARENT])
        known = parent or hop
        if known is not None and self._parent_based:
            sampled = known.sampled
        else:
            sampled = self._decides(event)
        if not sampled:  # an attempt finds all but the hop's trace alone: mark only that
            return _Unsampled(hop) if parent is None and hop is not None else None
        context, link = _extract(event), None
        if hop is not None:
            hop_context = _PROPAGATOR.extract(carrier)
            if context is None:
                context = hop_context
            elif (linked := trace.get_current_span(hop_context).get_span_context()).is_valid:
                link = Link(linked)
        return self._receive_span(event, transport, context, link)

    def _receive_span(
        self, event: Event, transport: str, context: Context | None, link: Link | None
    ) -> _Current:
        span = self._tracer.start_span(
            f"receive {event.type}",
            context=context,
            kind=SpanKind.CONSUMER,
            links=None if link is None else (link,),
            attributes={  # few attributes: the SDK checks each one
                "cloudevents.event_id": event.id,
                "cloudevents.event_type": event.type,
                "cloudevents.event_source": event.source,
                "messaging.system": transport,
            },
        )
        return _Current(span, receiving=True)

    def ingress(self, name: str, *, carrier: Mapping[str, str]) -> AbstractContextManager[object]:
        parent = parse_traceparent(carrier.get(TRACEPARENT), carrier.get(TRACESTATE))
        if not self.sampling.sampled(parent):
            return _Unsampled(parent)
        span = self._tracer.start_span(
            name,
            context=None if parent is None else _PROPAGATOR.extract(carrier),
            kind=SpanKind.SERVER,
        )
        return _Current(span)

    def answered(self, status: int) -> None:
        span = trace.get_current_span()
        if not span.is_recording():  # unsampled, or no span
            return
        span.set_attribute("http.response.status_code", status)
        if status >= 500:  # a server error; a refusal (4xx) is the client's, not the span's
            span.set_status(StatusCode.ERROR)

    def sampled(self, event: Event) -> bool:
        """Whether an attempt on ``event`` gets a handle span: what an enclosing receive
        marked, else what the event alone decides (`_decides`, inline: this runs for every
        event)."""
        scope = _scope.get()
        if scope is not None:  # inside a sampled receive, or an unsampled hop's mark
            return scope is _RECEIVING
        attributes = event._attributes
        if self._parent_based and TRACEPARENT in attributes:
            parent = _event_parent(event)
            if parent is not None:
                return parent.sampled
        return (hash(attributes["id"]) & RATIO_MASK) < self._threshold

    def _decides(self, event: Event) -> bool:
        """`Sampling.sampled_event`: the event's parent, else `picked` by its id (the same
        answer every time for one event)."""
        attributes = event._attributes
        if self._parent_based and TRACEPARENT in attributes:
            parent = _event_parent(event)
            if parent is not None:
                return parent.sampled
        return (hash(attributes["id"]) & RATIO_MASK) < self._threshold

    def handle(
        self, event: Event, *, subscription: str, attempt: int
    ) -> AbstractContextManager[object]:
        if _scope.get() is _RECEIVING:  # inside a receive span
            span = self._tracer.start_span(
                f"handle {subscription}",
                kind=SpanKind.INTERNAL,
                attributes={"tidal.subscription": subscription, "tidal.attempt": attempt},
            )
        else:
            span = self._tracer.start_span(
                f"handle {subscription}",
                context=_extract(event),
                kind=SpanKind.CONSUMER,
                attributes={  # one literal: the SDK checks each attribute, keep them few
                    "cloudevents.event_id": event.id,
                    "cloudevents.event_type": event.type,
                    "cloudevents.event_source": event.source,
                    "tidal.subscription": subscription,
                    "tidal.attempt": attempt,
                },
            )
        return _Current(span)

    def emitting(self, emit: Emit, *, subscription: str) -> Emit:
        if _unsampled() is not None:
            return emit

        async def traced(events: Sequence[Event]) -> None:
            if not events:
                await emit(events)
                return
            span = self._tracer.start_span(
                f"emit {subscription}",
                kind=SpanKind.PRODUCER,
                attributes={
                    "tidal.subscription": subscription,
                    "messaging.batch.message_count": len(events),
                    "cloudevents.event_type": sorted({e.type for e in events}),
                },
            )
            with _Current(span):
                await emit(events)

        return traced

    def stamp(self, events: list[Event], *, cause: Event | None = None) -> list[Event]:
        unsampled = _unsampled()
        carrier: dict[str, str] = {}
        if unsampled is not None:
            _put(carrier, unsampled.forwarded())
        elif cause is not None:
            _put(carrier, _forward_of(cause))
        else:
            _PROPAGATOR.inject(carrier)
        if TRACEPARENT not in carrier:
            return events
        return [event.with_extensions(carrier) for event in events]

    def current_ids(self) -> tuple[str, str] | None:
        unsampled = _unsampled()
        if unsampled is not None:
            return _ids(unsampled.forwarded()[0])
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def ids_for(self, event: Event) -> tuple[str, str]:
        unsampled = _unsampled()  # what `stamp` forwards for an unsampled attempt on ``event``
        forwarded = _forward_of(event) if unsampled is None else unsampled.forwarded()
        return _ids(forwarded[0])


def _forward_of(event: Event) -> Forward:
    return forward_event(_event_parent(event), event.source, event.id)


def _put(carrier: dict[str, str], forwarded: Forward) -> None:
    traceparent, tracestate = forwarded
    carrier[TRACEPARENT] = traceparent
    if tracestate is not None:
        carrier[TRACESTATE] = tracestate


def _ids(traceparent: str) -> tuple[str, str]:
    return traceparent[3:35], traceparent[36:52]


def _extract(event: Event) -> Context | None:
    traceparent = event.get_extension(TRACEPARENT)
    if not isinstance(traceparent, str):
        return None
    carrier = {TRACEPARENT: traceparent}
    tracestate = event.get_extension(TRACESTATE)
    if isinstance(tracestate, str):
        carrier[TRACESTATE] = tracestate
    return _PROPAGATOR.extract(carrier)
