"""One line per thing that happens: what `tidal dev` shows live and `tidal tail` prints.

`event_line` is the one-line form of a CloudEvent (time, type, source, id, subject and
partition key, and for a dead letter its ``tidalerrorclass`` / ``tidalerrormessage``).
`Activity` is the memory broker's ``watch`` hook in `tidal dev`: it turns each retried or
dead-lettered attempt, each success that followed a retry (and, when watching the user's own
Apps, every handled one) into a line and hands it to ``echo``, which prints it above the live
table (or plain, without a terminal). On Kafka (`tidal.cli._devkafka`) its `Activity.success`
observes the workers' attempts and the retries and dead letters come from their topics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidal._app import Subscription
from tidal._bindings.formats import encode_time
from tidal._deadletters import ATTEMPTS, ERROR_CLASS, ERROR_MESSAGE, SUBSCRIBER
from tidal._dispatching import Failed, Handled, Outcome, Retry
from tidal._events import PARTITIONKEY, Event

MAX_MESSAGE: int = 200  # characters of an error message on one line


def event_line(event: Event, *, where: str | None = None) -> str:
    """``time type source id [subject=..] [key=..] [where] [dead letter: class: message]``."""
    when = encode_time(event.time) if event.time is not None else "-"
    parts = [when, event.type, event.source, event.id]
    if event.subject is not None:
        parts.append(f"subject={event.subject}")
    key = event.get_extension(PARTITIONKEY)
    if key is not None:
        parts.append(f"key={key}")
    if where is not None:
        parts.append(where)
    error_class = event.get_extension(ERROR_CLASS)
    if error_class is not None:
        subscriber = event.get_extension(SUBSCRIBER) or "?"
        attempts = event.get_extension(ATTEMPTS) or "?"
        message = _short(str(event.get_extension(ERROR_MESSAGE) or ""))
        parts.append(
            f"failed in {subscriber} after {attempts} attempt(s): "
            f"{ERROR_CLASS}={error_class} {ERROR_MESSAGE}={message!r}"
        )
    return " ".join(str(p) for p in parts)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


@dataclass
class Activity:
    """Lines for retries and dead letters as they happen, and for a success after a retry;
    ``handled``: every success."""

    echo: Callable[[str], None]
    handled: bool = False

    def watch(self, sub: Subscription, event: Event, outcome: Outcome, attempt: int) -> None:
        """The `MemoryBroker` ``watch`` hook: one attempt of ``event`` on ``sub`` ended."""
        what = f"{sub.name}: {event.type} {event.id}"
        if isinstance(outcome, Retry):
            error = _short(f"{type(outcome.error).__name__}: {outcome.error}")
            self.echo(
                f"retry        {what} attempt {attempt} failed ({error}), "
                f"next attempt in {outcome.delay:.2f}s"
            )
        elif isinstance(outcome, Failed):
            self.dead_letter(outcome.letter)
        else:
            self.success(sub, event, attempt, outcome)

    def success(self, sub: Subscription, event: Event, attempt: int, outcome: Outcome) -> None:
        """A line for a success after a retry (with ``handled``, for every success); nothing
        for other outcomes. The Kafka run observes its workers' attempts with it (a
        `tidal._pipeline.Observer`), its retries and dead letters being read off their topics."""
        if isinstance(outcome, Handled) and (self.handled or attempt > 1):
            emitted = f", emitted {len(outcome.emitted)}" if outcome.emitted else ""
            again = " (duplicate: handled before)" if outcome.duplicate else ""
            what = f"{sub.name}: {event.type} {event.id}"
            self.echo(f"handled      {what} on attempt {attempt}{emitted}{again}")

    def dead_letter(self, letter: Event) -> None:
        """One dead letter (from the memory broker, or read off the Kafka ``.dlq`` topic)."""
        self.echo(f"dead-letter  {event_line(letter)}")

    def accepted(self, events: list[Event]) -> None:
        """The ingress published ``events``."""
        for event in events:
            self.echo(f"received     {event_line(event, where='(ingress)')}")
