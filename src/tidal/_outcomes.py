"""How one attempt of an event on a subscription ended: the values the core hands a transport.

`tidal._dispatching.Dispatcher.attempt` returns one of them and `tidal._pipeline.Pipeline` routes
it through the transport's callbacks (`tidal._pipeline.Route`):

- `Handled`: the handler succeeded (or had succeeded before: ``duplicate``);
- `Retry`: the attempt failed and may be tried again after ``delay`` seconds;
- `Failed`: delivery is over without success, ``letter`` goes to the dead-letter sink;
- `Paused`: a dependency tidal needs (the idempotency store, the broker, a sink) is down; no
  attempt was used up (it is counted ``paused``), the transport stops taking events in and
  tries the same attempt again after ``delay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tidal._deadletters import Failure
from tidal._events import Event

PAUSE: Final = 1.0
"""Seconds a transport waits before it tries a paused attempt again, unless the error says."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Handled:
    """The handler succeeded (or had already succeeded: ``duplicate``)."""

    emitted: list[Event]
    duplicate: bool = False


@dataclass(frozen=True, kw_only=True)
class Retry:
    """Attempt ``attempt`` failed and may be retried after ``delay`` seconds."""

    error: BaseException
    delay: float
    failed_at: datetime
    attempt: int = 1


@dataclass(frozen=True, kw_only=True)
class Failed:
    """Delivery is over without success: ``letter`` is the event to dead-letter."""

    error: BaseException
    failure: Failure
    letter: Event


@dataclass(frozen=True, kw_only=True)
class Paused:
    """A dependency is down (`tidal._errors.DependencyUnavailableError`): the attempt did not
    count; try it again after ``delay`` seconds, taking no new events in meanwhile."""

    error: BaseException
    delay: float


Outcome = Handled | Retry | Failed | Paused
