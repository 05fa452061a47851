"""The slots the hot path reads: the installed tracer (or None) and when the process got ready.

The delivery core (`tidal._dispatching`, `tidal._pipeline`) `watch`es the slot: it builds its
stages when it starts and again whenever `install` changes the tracer, so with tracing off (the
default) no tracing stage exists and the hot path never looks here. `setup` in
`tidal.observability` installs an OpenTelemetry-backed `Tracer` when tracing is on. Nothing here
imports a client library.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from tidal._events import Event

Emit = Callable[[Sequence[Event]], Awaitable[None]]


class Tracer(Protocol):
    """Spans for the three steps of an event's life in a process, with context carried in the
    CloudEvents distributed-tracing extension (``traceparent`` / ``tracestate``)."""

    def receive(
        self, event: Event, *, transport: str, carrier: Mapping[str, str] | None = None
    ) -> AbstractContextManager[object] | None:
        """A span around taking ``event`` in (``carrier``: the transport's own headers), or
        a mark of its unsampled trace; None when unsampled with nothing to mark (each
        attempt's `sampled` comes to the same decision from the event alone)."""

    def ingress(self, name: str, *, carrier: Mapping[str, str]) -> AbstractContextManager[object]:
        """A span around one request that becomes events (an ingest gateway), continuing the
        request's W3C ``traceparent`` (``carrier``: its headers); events stamped inside it
        start their trace there."""

    def answered(self, status: int) -> None:
        """Record the HTTP status an ingest span's request was answered with."""

    def sampled(self, event: Event) -> bool:
        """Whether an attempt on ``event`` gets a span (`handle`); one that does not runs
        without touching the context, and stamps its events with ``cause``."""

    def handle(
        self, event: Event, *, subscription: str, attempt: int
    ) -> AbstractContextManager[object]:
        """A span around one attempt of a subscription's handler on ``event``, for an event
        `sampled` found sampled."""

    def emitting(self, emit: Emit, *, subscription: str) -> Emit:
        """``emit`` wrapped in a span per call that sends events."""

    def stamp(self, events: list[Event], *, cause: Event | None = None) -> list[Event]:
        """``events`` carrying the current span's context in ``traceparent`` / ``tracestate``;
        with ``cause`` (the event an unsampled attempt handled), the trace it forwards."""

    def current_ids(self) -> tuple[str, str] | None:
        """The current (trace id, span id) as hex, for logs; None outside a span."""

    def ids_for(self, event: Event) -> tuple[str, str]:
        """The (trace id, span id) the ``ctx.logger`` lines of an unsampled attempt on
        ``event`` carry: those of the ``traceparent`` its events forward (see `stamp`)."""


class Watcher(Protocol):
    """Something that builds its stages from the installed tracer (`watch`)."""

    def tracer_installed(self, tracer: Tracer | None) -> None:
        """Rebuild for ``tracer`` (None: tracing is off)."""


tracer: Tracer | None = None
"""The installed tracer; None when tracing is off."""

_ready: dict[str, float] = {}
_watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()


def install(new: Tracer | None) -> None:
    """Install (or, with None, remove) the process's tracer; every watcher rebuilds."""
    global tracer
    tracer = new
    for watcher in list(_watchers):
        watcher.tracer_installed(new)


def watch(watcher: Watcher) -> None:
    """Tell ``watcher`` the tracer now and on every `install` while it lives (held weakly)."""
    _watchers.add(watcher)
    watcher.tracer_installed(tracer)


def mark_ready(service: str) -> None:
    """Record that ``service`` is ready to take events (first call counts)."""
    _ready.setdefault(service, time.time())


def ready_times() -> dict[str, float]:
    """When each service of this process got ready (Unix seconds)."""
    return dict(_ready)


def process_start_time() -> float:
    """When this process started (Unix seconds), from ``/proc`` where there is one."""
    return _PROCESS_START


def _read_process_start() -> float:
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            stat = fh.read()
        with open("/proc/stat", encoding="ascii") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith("btime "))
        ticks = os.sysconf("SC_CLK_TCK")
        # the command name (2nd field) may contain spaces: count fields after its ")"
        start_ticks = float(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, StopIteration, ValueError, IndexError):
        return time.time()
    return boot + start_ticks / ticks


_PROCESS_START = _read_process_start()
