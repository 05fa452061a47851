"""The context a handler receives beside its event: logger, emit, attempt number, deadline.

Built by the dispatcher for every attempt; handlers read it and call `emit` / `derive`.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from tidal._clock import Clock
from tidal._events import Event

DERIVED_ID_NAMESPACE: Final = uuid.UUID("6f1d4a52-3b0e-4a8e-9d55-1c7b2f0e7a11")


@dataclass(kw_only=True)
class Context:
    """Per-attempt facts and helpers for a handler.

    ``attempt`` is 1 for the first try and counts tidal's own retries (Kafka, memory). Over HTTP
    it is always 1: the Knative Broker retries and does not tell the subscriber which attempt a
    delivery is (docs/events.md), so key redelivery logic on the event id, not on ``attempt``.
    ``deadline`` is when this attempt times out (None: no timeout). Events passed to `emit` are
    sent like returned ones, after the handler succeeds.
    """

    event: Event
    subscription: str
    service: str
    attempt: int
    timeout: float | None
    clock: Clock
    started: float
    base_logger: logging.Logger
    emitted: list[Event] = field(default_factory=list)
    trace_ids: Callable[[Event], tuple[str, str]] | None = None
    """The (trace id, span id) of ``event``'s trace, when the logger must name them itself: an
    attempt traced without a span (not sampled) leaves them out of the logging context."""

    @property
    def deadline(self) -> datetime | None:
        """When this attempt times out (None: no timeout)."""
        if self.timeout is None:
            return None
        return self.clock.now() + timedelta(seconds=self.remaining())

    def remaining(self) -> float:
        """Seconds left before this attempt times out (infinity without a timeout)."""
        if self.timeout is None:
            return float("inf")
        return self.timeout - (self.clock.monotonic() - self.started)

    @functools.cached_property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry service, subscription, event id / type / source, attempt."""
        extra = {
            "service": self.service,
            "subscription": self.subscription,
            "event_id": self.event.id,
            "event_type": self.event.type,
            "event_source": self.event.source,
            "attempt": self.attempt,
        }
        if self.trace_ids is not None:
            extra["trace_id"], extra["span_id"] = self.trace_ids(self.event)
        return logging.LoggerAdapter(self.base_logger, extra)

    def emit(self, event: Event) -> None:
        """Queue ``event`` for sending once the handler returns successfully."""
        self.emitted.append(event)

    def derive(
        self, *, type: str, data: Any = None, source: str | None = None, **attrs: Any
    ) -> Event:
        """A new event whose id is derived from the input's (source, id), this subscription and
        its position, so a retried handler emits the same ids and downstream dedup works."""
        parts = (self.event.source, self.event.id, self.subscription, type, str(self._derived))
        seed = "\x00".join(parts)
        self._derived += 1
        event_id = str(uuid.uuid5(DERIVED_ID_NAMESPACE, seed))
        return Event.create(
            type=type, source=source or self.service, data=data, id=event_id, **attrs
        )

    _derived: int = 0
