"""Observability of a process that turns HTTP requests into events: an ingest gateway.

The reference gateway (``services.gateway``) uses it; so can any ingress a team writes on
`tidal.Publisher`. `Ingress` does three things, all exported under its ``service``:

- `Ingress.asgi` wraps the ASGI app: every POST's response status is counted
  (``tidal_http_requests_total``; an exception that escapes counts as the 500 the server
  answers), and with tracing on each POST runs inside an ingest span (``SERVER``, with
  ``http.response.status_code``; an error for a 5xx) that continues the request's W3C
  ``traceparent`` header, or, when not sampled, inside an unsampled mark, so the events it
  publishes still carry a valid ``traceparent`` (sampled flag off);
- `Ingress.publish` stamps the events that carry no trace context of their own with the
  current one (an event that does keeps it: it is the producer's trace), sends them inside an
  emit span, and counts them by route (``tidal_events_total``: ``handled`` once the broker took
  them, ``failed`` when it refused them; the ``subscription`` label is the route);
- registration with `tidal.observability._sources`, so ``/metrics`` (see `exposition`) shows it.

The hot path pays one attribute read when tracing is off; nothing here imports a client library.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from tidal._events import Event
from tidal._stats import OutcomeLabel, Stats
from tidal.observability import _hooks as hooks
from tidal.observability._sources import Source, register

TRANSPORT: Final = "ingress"
TRACEPARENT: Final = "traceparent"

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Publish = Callable[[Sequence[Event]], Awaitable[None]]


class Ingress:
    """Counts, status codes and traces of one ingest process, exported as ``service``."""

    def __init__(self, service: str, *, routes: Iterable[str] = ()) -> None:
        self.service = service
        self.routes = frozenset(routes)
        """Paths that name their ingest span; any other POST's span is named ``ingest``."""
        self.stats = Stats()
        self.statuses: Counter[int] = Counter()
        source = Source(
            service=service, transport=TRANSPORT, stats=self.stats, http_statuses=self.statuses
        )
        register(self, source)

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every POST counted by status and, with tracing on, in an ingest span."""

        async def observed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["method"] != "POST":
                await app(scope, receive, send)
                return
            started = False

            async def counted(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    self._answered(message["status"])
                await send(message)

            with self._span(scope):
                try:
                    await app(scope, receive, counted)
                except Exception:
                    if not started:  # the server answers 500 for what escapes
                        self._answered(500)
                    raise

        return observed

    async def publish(self, route: str, events: Sequence[Event], publish: Publish) -> None:
        """Send ``events`` with ``publish``, stamped with the current trace, counted by route;
        raises what ``publish`` raises (after counting the events ``failed``)."""
        tracer = hooks.tracer
        if tracer is not None:
            events = stamped(tracer, events)
            publish = tracer.emitting(publish, subscription=route)
        try:
            await publish(events)
        except Exception:
            self._count(route, events, "failed")
            raise
        self._count(route, events, "handled")

    def _answered(self, status: int) -> None:
        self.statuses[status] += 1
        tracer = hooks.tracer
        if tracer is not None:
            tracer.answered(status)

    def _span(self, scope: Scope) -> AbstractContextManager[object]:
        tracer = hooks.tracer
        if tracer is None:
            return nullcontext()
        path = scope["path"]
        name = f"ingest {path}" if path in self.routes else "ingest"  # no names from clients
        return tracer.ingress(name, carrier=_headers(scope["headers"]))

    def _count(self, route: str, events: Iterable[Event], outcome: OutcomeLabel) -> None:
        for event in events:
            self.stats.bump(route, "received", event_type=event.type)
            self.stats.bump(route, outcome, event_type=event.type)


def stamped(tracer: hooks.Tracer, events: Sequence[Event]) -> list[Event]:
    """``events``, those without a ``traceparent`` of their own carrying the current context."""
    bare = [i for i, event in enumerate(events) if event.get_extension(TRACEPARENT) is None]
    if not bare:
        return list(events)
    out = list(events)
    for i, event in zip(bare, tracer.stamp([events[i] for i in bare]), strict=True):
        out[i] = event
    return out


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The trace headers of an ASGI request (lower-case names, as ASGI gives them)."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name in (b"traceparent", b"tracestate"):
            found[name.decode("latin-1")] = value.decode("latin-1")
    return found
